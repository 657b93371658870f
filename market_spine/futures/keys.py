"""Asset keys and table names of the futures domain, in one place."""

from __future__ import annotations

import dagster as dg

RAW_BARS = dg.AssetKey(["raw", "futures_bars_1m"])
NORMALIZED_BARS = dg.AssetKey(["normalized", "futures_bars_1m"])
DAILY_BARS = dg.AssetKey(["analytics", "futures_bars_daily"])


def table(key: dg.AssetKey) -> str:
    """The lake dataset of an asset key: `raw/futures_bars_1m`."""
    return "/".join(key.path)
