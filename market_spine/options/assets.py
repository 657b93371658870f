"""The options domain's assets, in lineage order."""

from __future__ import annotations

from market_spine.options.greeks_eod import options_greeks_eod
from market_spine.options.normalized_chain import normalized_options_chain_eod
from market_spine.options.raw_chain import raw_spx_options_eod
from market_spine.options.raw_quotes import raw_spx_options_quotes_1m
from market_spine.options.surface_daily import vol_surface_daily

OPTIONS_ASSETS = (
    raw_spx_options_eod,
    normalized_options_chain_eod,
    options_greeks_eod,
    vol_surface_daily,
    raw_spx_options_quotes_1m,
)
