"""`analytics/options_greeks_eod`: implied vols (mid, bid, ask) and greeks per contract, with the
forward and discount each expiry implies by put-call parity; unsolvable quotes are flagged."""

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
from market_spine.options.analytics import chain_greeks, implied_forwards
from market_spine.options.catalog import CERTIFIED_FROM, GREEKS_SPEC
from market_spine.options.judgment import DAY_COLUMNS, eod_days, vol_completeness
from market_spine.options.partitions import option_days, run_days
from market_spine.options.schemas import GREEKS
from market_spine.providers.resource import MarketDataResource


def greeks_of_day(chain: pl.DataFrame) -> pl.DataFrame:
    """Greeks of one day's normalized chain."""
    if chain.is_empty():
        return pl.DataFrame(schema=GREEKS)
    return conform(chain_greeks(chain, implied_forwards(chain)), GREEKS)


def greeks_of_days(chain: pl.DataFrame) -> pl.DataFrame:
    """Greeks of a block of days, computed day by day (forwards are per day and expiry)."""
    parts = [greeks_of_day(day_chain) for _, day_chain in chain.group_by("trade_date")]
    return pl.concat(parts) if parts else pl.DataFrame(schema=GREEKS)


@dataset_asset(GREEKS_SPEC, checks.GREEKS_CHECKS, option_days, group_name="options")
def options_greeks_eod(
    context: dg.AssetExecutionContext, lake: LakeResource, market: MarketDataResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Compute each day of the run and replace its block, then judge each day from its chain's
    certification, keeping the contracts its checks flag beside the data."""
    store = lake.lake
    days = run_days(context)
    previous = Previous()
    greeks = rebuild_blocks(
        store,
        days,
        keys.table(keys.NORMALIZED_CHAIN),
        keys.table(keys.GREEKS),
        greeks_of_days,
        context.run.run_id,
        ["root"],
        previous=previous,
    )
    verdicts = checks.judge_days(checks.GREEKS_CHECKS, greeks, days)
    judged = judge_derived_asset(
        context,
        store,
        GREEKS_SPEC.name,
        CERTIFIED_FROM,
        checks.GREEKS_CHECKS,
        greeks,
        DAY_COLUMNS,
        eod_days(days),
        verdicts,
        market.now(),
        lambda _, __, day: vol_completeness(day),
        (GREEKS_SPEC, previous),
    )
    yield dg.MaterializeResult(
        metadata={
            "rows": greeks.height,
            "delta_version": store.version(keys.table(keys.GREEKS)),
            **judged.metadata(),
        }
    )
    yield from partition_checks(context, keys.GREEKS, checks.GREEKS_CHECKS, verdicts)
