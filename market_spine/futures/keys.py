"""Asset keys and table names of the futures domain, in one place."""

from __future__ import annotations

import dagster as dg

from market_spine.catalog.dagster_metadata import table

RAW_BARS = dg.AssetKey(["raw", "futures_bars_1m"])
NORMALIZED_BARS = dg.AssetKey(["normalized", "futures_bars_1m"])
DAILY_BARS = dg.AssetKey(["analytics", "futures_bars_daily"])
ROLLS = dg.AssetKey(["normalized", "futures_rolls"])
CONTINUOUS_BARS = dg.AssetKey(["normalized", "futures_continuous_1m"])
CONTINUOUS_DAILY = dg.AssetKey(["analytics", "futures_continuous_daily"])
#: Every futures asset, in lineage order.
IN_LINEAGE = (RAW_BARS, NORMALIZED_BARS, DAILY_BARS, ROLLS, CONTINUOUS_BARS, CONTINUOUS_DAILY)

__all__ = [
    "CONTINUOUS_BARS",
    "CONTINUOUS_DAILY",
    "DAILY_BARS",
    "IN_LINEAGE",
    "NORMALIZED_BARS",
    "RAW_BARS",
    "ROLLS",
    "table",
]
