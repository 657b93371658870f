"""The futures domain's Definitions: raw captures, normalized minutes, daily bars, and the hourly
capture that keeps them fresh."""

from __future__ import annotations

import dagster as dg

from market_spine.futures.automation import futures_hourly_capture, futures_job
from market_spine.futures.daily_bars import futures_bars_daily
from market_spine.futures.normalized_bars import normalized_futures_bars_1m
from market_spine.futures.raw_bars import raw_futures_bars_1m
from market_spine.settings import Settings

#: The futures assets, in lineage order.
ASSETS = (raw_futures_bars_1m, normalized_futures_bars_1m, futures_bars_daily)


def build_definitions(settings: Settings) -> dg.Definitions:
    """The futures assets in lineage order, their job and schedule."""
    del settings  # the symbol partitions come from the instruments file (futures.partitions)
    return dg.Definitions(
        assets=list(ASSETS),
        jobs=[futures_job],
        schedules=[futures_hourly_capture],
    )
