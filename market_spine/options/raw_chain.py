"""`raw/spx_options_eod`: append-only captures of the SPX and SPXW end-of-day chains."""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from market_spine.catalog.dagster_metadata import dataset_asset
from market_spine.catalog.vocabulary import conform
from market_spine.check_kit import partition_checks
from market_spine.lake.capture import with_provenance
from market_spine.lake.resource import LakeResource
from market_spine.markets.expirations import ROOTS
from market_spine.options import checks, keys
from market_spine.options.catalog import RAW_CHAIN_SPEC
from market_spine.options.partitions import option_days, run_days
from market_spine.options.schemas import RAW_CHAIN
from market_spine.providers.base import ChainCapture
from market_spine.providers.resource import MarketDataResource


def chain_frame(capture: ChainCapture, day: date) -> pl.DataFrame:
    """The raw rows of one chain capture: its contracts plus the trade date and provenance."""
    rows = capture.chain.with_columns(trade_date=pl.lit(day))
    stamped = with_provenance(
        rows, capture.source, capture.request, capture.payload, datetime.now(UTC)
    )
    return conform(stamped, RAW_CHAIN)


@dataset_asset(
    RAW_CHAIN_SPEC, checks.RAW_CHAIN_CHECKS, option_days, group_name="options", pool="thetadata"
)
def raw_spx_options_eod(
    context: dg.AssetExecutionContext, lake: LakeResource, market: MarketDataResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Fetch each root's chain for each day of the run; one commit for all captures."""
    provider = market.chains()
    days = run_days(context)
    frames = []
    for day in days:
        for root in ROOTS:
            frames.append(chain_frame(provider.fetch_chain(root, day), day))
    raw = pl.concat(frames)
    commit = lake.lake.append(
        keys.table(keys.RAW_CHAIN),
        raw,
        partition_by=["root"],
        metadata={"run_id": context.run.run_id, "source": provider.name},
    )
    verdicts = checks.judge_days(checks.RAW_CHAIN_CHECKS, raw, days)
    yield dg.MaterializeResult(
        metadata={"rows": raw.height, "captures": len(frames), "delta_version": commit.version}
    )
    yield from partition_checks(context, keys.RAW_CHAIN, checks.RAW_CHAIN_CHECKS, verdicts)
