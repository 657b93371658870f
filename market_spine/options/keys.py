"""Asset keys of the options domain."""

from __future__ import annotations

import dagster as dg

RAW_CHAIN = dg.AssetKey(["raw", "spx_options_eod"])
RAW_QUOTES = dg.AssetKey(["raw", "spx_options_quotes_1m"])
NORMALIZED_CHAIN = dg.AssetKey(["normalized", "options_chain_eod"])
GREEKS = dg.AssetKey(["analytics", "options_greeks_eod"])
SURFACE = dg.AssetKey(["analytics", "vol_surface_daily"])
ROOTS = ("SPX", "SPXW")


def table(key: dg.AssetKey) -> str:
    """The lake dataset of an asset key."""
    return "/".join(key.path)
