"""`analytics/futures_continuous_daily`: one OHLCV row per continuous series and trade date, from
the continuous minutes (unadjusted, like them)."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from market_spine.check_kit import partition_checks
from market_spine.futures import checks, keys
from market_spine.futures.assets import futures_asset, rebuild_partitions
from market_spine.futures.catalog import CONTINUOUS_DAILY_SPEC
from market_spine.futures.daily_bars import daily_from_minutes
from market_spine.futures.schemas import CONTINUOUS_DAILY, ROLLS
from market_spine.lake.resource import LakeResource


def continuous_daily_from_minutes(minutes: pl.DataFrame) -> pl.DataFrame:
    """Each series' sessions from its minutes (CONTINUOUS_DAILY)."""
    return daily_from_minutes(minutes, by=("series",), schema=CONTINUOUS_DAILY)


def futures_continuous_daily(
    context: dg.AssetExecutionContext, lake: LakeResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Rebuild the daily rows of each contiguous block of the run's partitions."""
    store = lake.lake
    daily, partitions = rebuild_partitions(
        context,
        store,
        keys.CONTINUOUS_BARS,
        keys.CONTINUOUS_DAILY,
        continuous_daily_from_minutes,
        CONTINUOUS_DAILY,
    )
    verdicts = checks.judge_rolls_partitions(
        checks.CONTINUOUS_DAILY_CHECKS, daily, pl.DataFrame(schema=ROLLS), partitions
    )
    yield dg.MaterializeResult(
        metadata={
            "rows": daily.height,
            "delta_version": store.version(keys.table(keys.CONTINUOUS_DAILY)),
        }
    )
    yield from partition_checks(
        context, keys.CONTINUOUS_DAILY, checks.CONTINUOUS_DAILY_CHECKS, verdicts
    )


def build_continuous_daily(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The `analytics/futures_continuous_daily` asset and its checks, over a home's partitions."""
    return futures_asset(
        futures_continuous_daily,
        CONTINUOUS_DAILY_SPEC,
        checks.CONTINUOUS_DAILY_CHECKS,
        partitions_def,
    )
