"""`analytics/vol_surface_daily`: per expiry ATM vol, 25-delta risk reversal and butterfly — the
day's term structure and skew."""

from datetime import date

import dagster as dg
import polars as pl

from market_spine.assetkit import CheckOutcome, check_result
from market_spine.catalog.dagster_metadata import catalog_metadata
from market_spine.catalog.vocabulary import conform
from market_spine.lake.blocks import rebuild_blocks
from market_spine.lake.resource import LakeResource
from market_spine.markets.expirations import is_trading_day
from market_spine.options import keys
from market_spine.options.analytics import surface
from market_spine.options.catalog import SURFACE_SPEC
from market_spine.options.partitions import option_days
from market_spine.options.schemas import SURFACE

#: A day's surface must span at least this many expiries to be a term structure.
MIN_EXPIRIES = 5


def surfaces_of_days(greeks: pl.DataFrame) -> pl.DataFrame:
    """The surface summary of each day in a block of greeks."""
    parts = [
        surface(g).with_columns(trade_date=pl.lit(day))
        for (day,), g in greeks.group_by("trade_date")
    ]
    return conform(pl.concat(parts), SURFACE) if parts else pl.DataFrame(schema=SURFACE)


@dg.asset(
    key=keys.SURFACE,
    deps=[keys.GREEKS],
    partitions_def=option_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec("term_structure", asset=keys.SURFACE)],
    group_name="options",
    kinds={"delta", "polars"},
    owners=[SURFACE_SPEC.owner],
    description=SURFACE_SPEC.description,
    metadata=catalog_metadata(SURFACE_SPEC),
)
def vol_surface_daily(
    context: dg.AssetExecutionContext, lake: LakeResource
) -> dg.MaterializeResult:
    """Summarize each day's greeks into its surface."""
    store = lake.lake
    days = sorted(date.fromisoformat(k) for k in context.partition_keys)
    result = rebuild_blocks(
        store,
        days,
        keys.table(keys.GREEKS),
        keys.table(keys.SURFACE),
        surfaces_of_days,
        context.run.run_id,
        ["root"],
    )
    per_day = result.group_by("trade_date").len()
    thin = per_day.filter(pl.col("len") < MIN_EXPIRIES)["trade_date"].to_list()
    present = set(result["trade_date"].to_list())
    missing = [str(d) for d in days if is_trading_day(d) and d not in present]
    outcome = CheckOutcome(
        not thin and not missing,
        {
            "expiries_min": int(per_day["len"].min() or 0),
            "thin_days": [str(d) for d in thin],
            "missing_days": missing,
        },
    )
    return dg.MaterializeResult(
        metadata={"rows": result.height, "delta_version": store.version(keys.table(keys.SURFACE))},
        check_results=[check_result(keys.SURFACE, "term_structure", outcome)],
    )
