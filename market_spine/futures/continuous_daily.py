"""`analytics/futures_continuous_daily`: one OHLCV row per continuous series and trade date, from
the continuous minutes (unadjusted, like them)."""

from collections.abc import Iterator, Mapping

import dagster as dg
import polars as pl

from market_spine.certification.certify import Partition
from market_spine.certification.derived import judge_derived_asset
from market_spine.certification.readiness import Completeness
from market_spine.check_kit import CheckOutcome, partition_checks
from market_spine.futures import checks, keys
from market_spine.futures.assets import (
    PARTITION_COLUMNS,
    futures_asset,
    later_keys,
    rebuild_partitions,
    record_later,
    run_partitions,
)
from market_spine.futures.catalog import CERTIFIED_FROM, CONTINUOUS_DAILY_SPEC
from market_spine.futures.continuous_bars import held_by_series
from market_spine.futures.daily_bars import daily_from_minutes
from market_spine.futures.partitions import split_keys
from market_spine.futures.roll_table import absent_series, with_stale_sessions
from market_spine.futures.schemas import CONTINUOUS_DAILY, ROLLS
from market_spine.lake.blocks import Previous
from market_spine.lake.resource import LakeResource
from market_spine.providers.resource import MarketDataResource


def continuous_daily_from_minutes(minutes: pl.DataFrame) -> pl.DataFrame:
    """Each series' sessions from its minutes (CONTINUOUS_DAILY)."""
    return daily_from_minutes(minutes, by=("series",), schema=CONTINUOUS_DAILY)


def series_days(
    p: Partition, verdicts: Mapping[str, CheckOutcome], rows: pl.DataFrame
) -> list[Completeness]:
    """Each continuous series of the root owed a daily row that session, in days, with its
    own completeness verdict (none owed without a session)."""
    counts = verdicts["completeness"].metadata
    owed = counts.get("judged", [])
    missing = set(counts["missing"])
    held = held_by_series(rows)
    absent = [
        Completeness(a["series"], "days", 1, 0, 1, instrument=a["contract"], absent=a["reason"])
        for a in counts.get("absent", [])
    ]
    return absent + [
        Completeness(
            name,
            "days",
            1,
            0 if name in missing else 1,
            1 if name in missing else 0,
            verdicts={"completeness": CheckOutcome(name not in missing, {"series": name})},
            instrument=held.get(name, (None, None))[0],
            capture_id=held.get(name, (None, None))[1],
        )
        for name in owed
    ]


def futures_continuous_daily(
    context: dg.AssetExecutionContext, lake: LakeResource, market: MarketDataResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Rebuild the daily rows of each contiguous block of the run's partitions, with the later
    sessions whose series the run's bars change (`with_stale_sessions`), then judge
    each from its continuous minutes' judgment."""
    store = lake.lake
    previous = Previous()
    rebuilt = with_stale_sessions(store, split_keys(context.partition_keys), keys.CONTINUOUS_DAILY)
    daily, partitions = rebuild_partitions(
        context,
        store,
        keys.CONTINUOUS_BARS,
        keys.CONTINUOUS_DAILY,
        continuous_daily_from_minutes,
        CONTINUOUS_DAILY,
        previous=previous,
        by_symbol=rebuilt,
    )
    absent = {
        (symbol, day): series
        for symbol, days in rebuilt.items()
        for day, series in absent_series(store, symbol, days).items()
    }
    verdicts = checks.judge_rolls_partitions(
        checks.CONTINUOUS_DAILY_CHECKS,
        daily,
        pl.DataFrame(schema=ROLLS),
        partitions,
        absent=absent,
    )
    judged = judge_derived_asset(
        context,
        store,
        CONTINUOUS_DAILY_SPEC.name,
        CERTIFIED_FROM,
        checks.CONTINUOUS_DAILY_CHECKS,
        daily,
        PARTITION_COLUMNS,
        run_partitions(context, rebuilt),
        verdicts,
        market.now(),
        series_days,
        (CONTINUOUS_DAILY_SPEC, previous),
    )
    metadata = {
        "rows": daily.height,
        "delta_version": store.version(keys.table(keys.CONTINUOUS_DAILY)),
        **judged.metadata(),
    }
    later = later_keys(context, rebuilt)
    record_later(context, keys.CONTINUOUS_DAILY, later, **metadata)
    yield dg.MaterializeResult(metadata=metadata)
    yield from partition_checks(
        context, keys.CONTINUOUS_DAILY, checks.CONTINUOUS_DAILY_CHECKS, verdicts, later
    )


def build_continuous_daily(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The `analytics/futures_continuous_daily` asset and its checks, over a home's partitions."""
    return futures_asset(
        futures_continuous_daily,
        CONTINUOUS_DAILY_SPEC,
        checks.CONTINUOUS_DAILY_CHECKS,
        partitions_def,
    )
