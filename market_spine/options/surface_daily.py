"""`analytics/vol_surface_daily`: per expiry ATM vol, 25-delta risk reversal and butterfly — the
day's term structure and skew."""

from datetime import date

import dagster as dg
import polars as pl

from market_spine.assetkit import CheckOutcome, check_result, conform, contiguous_blocks
from market_spine.lake.resource import LakeResource
from market_spine.options import keys
from market_spine.options.analytics import surface
from market_spine.options.partitions import option_days
from market_spine.options.schemas import SURFACE

#: A day's surface must span at least this many expiries to be a term structure.
MIN_EXPIRIES = 5


@dg.asset(
    key=keys.SURFACE,
    deps=[keys.GREEKS],
    partitions_def=option_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec("term_structure", asset=keys.SURFACE)],
    group_name="options",
    kinds={"delta", "polars"},
    owners=["team:quant"],
    description="Per expiry: ATM implied vol, 25-delta risk reversal and butterfly (SPX, SPXW).",
)
def vol_surface_daily(
    context: dg.AssetExecutionContext, lake: LakeResource
) -> dg.MaterializeResult:
    """Summarize each day's greeks into its surface."""
    store = lake.lake
    frames = []
    days = sorted(date.fromisoformat(k) for k in context.partition_keys)
    for start, end in contiguous_blocks(days):
        greeks = store.read(keys.table(keys.GREEKS), between={"trade_date": (start, end)})
        parts = [
            surface(g).with_columns(trade_date=pl.lit(day))
            for (day,), g in greeks.group_by("trade_date")
        ]
        block = conform(pl.concat(parts), SURFACE) if parts else pl.DataFrame(schema=SURFACE)
        store.replace(
            keys.table(keys.SURFACE),
            block,
            between={"trade_date": (start, end)},
            partition_by=["root"],
            metadata={"run_id": context.run.run_id},
        )
        frames.append(block)
    result = pl.concat(frames)
    per_day = result.group_by("trade_date").len()
    thin = per_day.filter(pl.col("len") < MIN_EXPIRIES)["trade_date"].to_list()
    outcome = CheckOutcome(
        not thin and per_day.height == len([d for d in days if d in set(result["trade_date"])]),
        {"expiries_min": int(per_day["len"].min() or 0), "thin_days": [str(d) for d in thin]},
    )
    return dg.MaterializeResult(
        metadata={"rows": result.height, "delta_version": store.version(keys.table(keys.SURFACE))},
        check_results=[check_result(keys.SURFACE, "term_structure", outcome)],
    )
