"""`analytics/vol_surface_daily`: per expiry ATM vol, 25-delta risk reversal and butterfly — the
day's term structure and skew."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from market_spine.catalog.dagster_metadata import dataset_asset
from market_spine.catalog.vocabulary import conform
from market_spine.certification.derived import judge_derived_asset
from market_spine.check_kit import partition_checks
from market_spine.lake.blocks import Previous, rebuild_blocks
from market_spine.lake.resource import LakeResource
from market_spine.options import checks, keys
from market_spine.options.analytics import surface
from market_spine.options.catalog import CERTIFIED_FROM, SURFACE_SPEC
from market_spine.options.judgment import DAY_COLUMNS, eod_days, expiry_completeness
from market_spine.options.partitions import option_days, run_days
from market_spine.options.schemas import SURFACE
from market_spine.providers.resource import MarketDataResource


def surfaces_of_days(greeks: pl.DataFrame) -> pl.DataFrame:
    """The surface summary of each day in a block of greeks."""
    parts = [
        surface(g).with_columns(trade_date=pl.lit(day))
        for (day,), g in greeks.group_by("trade_date")
    ]
    return conform(pl.concat(parts), SURFACE) if parts else pl.DataFrame(schema=SURFACE)


@dataset_asset(SURFACE_SPEC, checks.SURFACE_CHECKS, option_days, group_name="options")
def vol_surface_daily(
    context: dg.AssetExecutionContext, lake: LakeResource, market: MarketDataResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Summarize each day's greeks into its surface, then judge each day from its greeks'."""
    store = lake.lake
    days = run_days(context)
    previous = Previous()
    result = rebuild_blocks(
        store,
        days,
        keys.table(keys.GREEKS),
        keys.table(keys.SURFACE),
        surfaces_of_days,
        context.run.run_id,
        ["root"],
        previous=previous,
    )
    verdicts = checks.judge_days(checks.SURFACE_CHECKS, result, days)
    judged = judge_derived_asset(
        context,
        store,
        SURFACE_SPEC.name,
        CERTIFIED_FROM,
        checks.SURFACE_CHECKS,
        result,
        DAY_COLUMNS,
        eod_days(days),
        verdicts,
        market.now(),
        lambda p, _, day: expiry_completeness(day, p.trade_date),
        (SURFACE_SPEC, previous),
    )
    yield dg.MaterializeResult(
        metadata={
            "rows": result.height,
            "delta_version": store.version(keys.table(keys.SURFACE)),
            **judged.metadata(),
        }
    )
    yield from partition_checks(context, keys.SURFACE, checks.SURFACE_CHECKS, verdicts)
