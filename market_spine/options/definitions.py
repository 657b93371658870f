"""The options domain's Definitions: SPX/SPXW chains, quotes, greeks and the surface."""

from __future__ import annotations

import dagster as dg

from market_spine.options.greeks_eod import options_greeks_eod
from market_spine.options.normalized_chain import normalized_options_chain_eod
from market_spine.options.raw_chain import raw_spx_options_eod
from market_spine.options.raw_quotes import raw_spx_options_quotes_1m
from market_spine.options.surface_daily import vol_surface_daily
from market_spine.settings import Settings

#: The option assets, in lineage order.
ASSETS = (
    raw_spx_options_eod,
    normalized_options_chain_eod,
    options_greeks_eod,
    vol_surface_daily,
    raw_spx_options_quotes_1m,
)


def build_definitions(settings: Settings) -> dg.Definitions:
    """The option assets, in lineage order; their resources come from the root."""
    del settings  # the option partitions are the Cboe calendar's, not a setting
    return dg.Definitions(assets=list(ASSETS))
