"""The futures domain's Definitions: raw captures, normalized minutes, daily bars, the roll table
and continuous series, and the hourly capture that keeps them fresh, partitioned by the symbols
of a home's settings."""

from __future__ import annotations

import dagster as dg

from market_spine.futures import keys
from market_spine.futures.automation import build_hourly_capture, futures_job
from market_spine.futures.continuous_bars import build_continuous_bars
from market_spine.futures.continuous_daily import build_continuous_daily
from market_spine.futures.daily_bars import build_daily_bars
from market_spine.futures.normalized_bars import build_normalized_bars
from market_spine.futures.partitions import captured_symbols, futures_partitions
from market_spine.futures.raw_bars import build_raw_bars
from market_spine.futures.roll_table import build_rolls
from market_spine.settings import Settings

#: The futures assets' keys, in lineage order (their definitions depend on a home's symbols).
ASSET_KEYS = keys.IN_LINEAGE
BUILDERS = (
    build_raw_bars,
    build_normalized_bars,
    build_daily_bars,
    build_rolls,
    build_continuous_bars,
    build_continuous_daily,
)


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """The futures assets of a home, in lineage order, sharing its trade date × symbol
    partitions. A bad instruments file raises InvalidInput."""
    partitions = futures_partitions(settings)
    return [build(partitions) for build in BUILDERS]


def build_definitions(settings: Settings) -> dg.Definitions:
    """The futures assets in lineage order, their job, and the hourly capture of the symbols
    the home captures."""
    return dg.Definitions(
        assets=build_assets(settings),
        jobs=[futures_job],
        schedules=[build_hourly_capture(captured_symbols(settings))],
    )
