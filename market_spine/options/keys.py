"""Asset keys of the options domain."""

from __future__ import annotations

import dagster as dg

from market_spine.catalog.dagster_metadata import table

RAW_CHAIN = dg.AssetKey(["raw", "spx_options_eod"])
RAW_QUOTES = dg.AssetKey(["raw", "spx_options_quotes_1m"])
NORMALIZED_CHAIN = dg.AssetKey(["normalized", "options_chain_eod"])
GREEKS = dg.AssetKey(["analytics", "options_greeks_eod"])
SURFACE = dg.AssetKey(["analytics", "vol_surface_daily"])

__all__ = ["GREEKS", "NORMALIZED_CHAIN", "RAW_CHAIN", "RAW_QUOTES", "SURFACE", "table"]
