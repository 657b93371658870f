"""`analytics/futures_bars_daily`: one OHLCV row per symbol and trade date, from the minutes."""

from collections.abc import Iterator, Mapping

import dagster as dg
import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.certification.certify import Partition
from market_spine.certification.derived import judge_derived_asset
from market_spine.certification.readiness import Completeness
from market_spine.check_kit import CheckOutcome, partition_checks
from market_spine.futures import checks, keys
from market_spine.futures.assets import (
    PARTITION_COLUMNS,
    futures_asset,
    rebuild_partitions,
    run_partitions,
)
from market_spine.futures.catalog import CERTIFIED_FROM, DAILY_BARS_SPEC
from market_spine.futures.normalized_bars import absent_fronts
from market_spine.futures.schemas import DAILY_BARS
from market_spine.lake.blocks import Previous
from market_spine.lake.resource import LakeResource
from market_spine.markets import calendars
from market_spine.providers.resource import MarketDataResource


def daily_from_minutes(
    bars: pl.DataFrame,
    by: tuple[str, ...] = (),
    schema: dict[str, pl.DataType] = DAILY_BARS,
) -> pl.DataFrame:
    """Aggregate minute bars to sessions (per symbol and the `by` columns, e.g. a continuous
    series) in `schema`; vwap volume-weighted, contract the session's last."""
    sessions = bars.select("symbol", "trade_date").unique()
    expected = sessions.with_columns(
        expected_bars=pl.Series(
            [len(calendars.expected_minutes(s, d)) for s, d in sessions.iter_rows()],
            dtype=pl.Int64,
        )
    )
    daily = (
        bars.sort("symbol", *by, "ts")
        .group_by("symbol", *by, "trade_date", maintain_order=True)
        .agg(
            contract=pl.col("contract").last(),
            open=pl.col("open").first(),
            high=pl.col("high").max(),
            low=pl.col("low").min(),
            close=pl.col("close").last(),
            volume=pl.col("volume").sum(),
            # Null when any minute lacks it: a partial sum would be a wrong number.
            vwap=pl.when(pl.col("vwap").null_count() == 0)
            .then((pl.col("vwap") * pl.col("volume")).sum() / pl.col("volume").sum())
            .otherwise(None),
            trades=pl.when(pl.col("trades").null_count() == 0)
            .then(pl.col("trades").sum())
            .otherwise(None),
            bar_count=pl.len().cast(pl.Int64),
            capture_id=pl.col("capture_id").max(),
        )
        .join(expected, on=["symbol", "trade_date"], how="left", maintain_order="left")
    )
    return conform(daily, schema)


def session_completeness(
    p: Partition,
    verdicts: Mapping[str, CheckOutcome],
    rows: pl.DataFrame,
    absent: Mapping[str, str] | None = None,
) -> list[Completeness]:
    """A session's daily row against the calendar, in days (none owed without a session);
    `absent` says, by partition key, why a session has none of its front contract's minutes
    while it holds other months' (missing, not failed: `normalized_bars.absent_fronts`)."""
    counts = verdicts["completeness"].metadata
    contract = rows["contract"][-1] if rows.height else None
    return [
        Completeness(
            p.symbol,
            "days",
            counts["expected_days"],
            rows.height,
            counts["missing_days"],
            instrument=contract,
            absent=(absent or {}).get(p.key) if rows.is_empty() else None,
        )
    ]


def futures_bars_daily(
    context: dg.AssetExecutionContext, lake: LakeResource, market: MarketDataResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Rebuild the daily rows of each contiguous block of the run's partitions, then judge
    each from its minutes' certification."""
    store = lake.lake
    previous = Previous()
    daily, partitions = rebuild_partitions(
        context,
        store,
        keys.NORMALIZED_BARS,
        keys.DAILY_BARS,
        daily_from_minutes,
        DAILY_BARS,
        previous=previous,
    )
    verdicts = checks.judge_partitions(checks.DAILY_BARS_CHECKS, daily, partitions)
    absent = absent_fronts(store, daily, run_partitions(context))
    judged = judge_derived_asset(
        context,
        store,
        DAILY_BARS_SPEC.name,
        CERTIFIED_FROM,
        checks.DAILY_BARS_CHECKS,
        daily,
        PARTITION_COLUMNS,
        run_partitions(context),
        verdicts,
        market.now(),
        lambda p, found, rows: session_completeness(p, found, rows, absent),
        (DAILY_BARS_SPEC, previous),
    )
    yield dg.MaterializeResult(
        metadata={
            "rows": daily.height,
            "delta_version": store.version(keys.table(keys.DAILY_BARS)),
            **judged.metadata(),
        }
    )
    yield from partition_checks(context, keys.DAILY_BARS, checks.DAILY_BARS_CHECKS, verdicts)


def build_daily_bars(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The `analytics/futures_bars_daily` asset and its checks, over a home's partitions
    (`futures_partitions`)."""
    return futures_asset(
        futures_bars_daily, DAILY_BARS_SPEC, checks.DAILY_BARS_CHECKS, partitions_def
    )
