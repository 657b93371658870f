"""`normalized/options_chain_eod`: one row per contract per day (OSI symbol, mid, days to expiry),
from the newest capture of each root and day, replaced atomically per block of days."""

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import polars as pl

from market_spine.catalog.dagster_metadata import dataset_asset
from market_spine.catalog.vocabulary import conform
from market_spine.certification.certify import (
    Before,
    Judged,
    certify,
    selected_checks,
    with_certified,
)
from market_spine.certification.readiness import Completeness
from market_spine.certification.withdrawal import dependents
from market_spine.check_kit import partition_checks
from market_spine.lake import Lake
from market_spine.lake.blocks import Previous, rebuild_blocks
from market_spine.lake.resource import LakeResource
from market_spine.markets.expirations import is_trading_day
from market_spine.markets.osi import osi_expr
from market_spine.options import checks, keys
from market_spine.options.analytics import with_mid
from market_spine.options.catalog import CERTIFIED_FROM, NORMALIZED_CHAIN_SPEC
from market_spine.options.judgment import DAY_COLUMNS, eod_days
from market_spine.options.partitions import option_days, run_days
from market_spine.options.schemas import NORMALIZED_CHAIN
from market_spine.providers.resource import MarketDataResource


def normalize(raw: pl.DataFrame) -> pl.DataFrame:
    """Newest capture per (root, day); OSI symbols; mid only where both sides are quoted; year
    fractions."""
    newest = raw.group_by("root", "trade_date").agg(pl.col("capture_id").max())
    rows = raw.join(newest, on=["root", "trade_date", "capture_id"])
    return conform(
        with_mid(rows)
        .with_columns(
            osi=osi_expr(),
            days_to_expiry=(pl.col("expiration") - pl.col("trade_date")).dt.total_days(),
        )
        .sort("trade_date", "root", "expiration", "right", "strike"),
        NORMALIZED_CHAIN,
    )


def previous_trading_day(day: date) -> date:
    """The Cboe trading day before `day`."""
    day -= timedelta(days=1)
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


def previous_day(store: Lake, first: date) -> pl.DataFrame:
    """The normalized chain of the trading day before `first` (empty if not materialized)."""
    day = previous_trading_day(first)
    table = keys.table(keys.NORMALIZED_CHAIN)
    if not store.exists(table):
        return pl.DataFrame(schema=NORMALIZED_CHAIN)
    return store.read(table, between={"trade_date": (day, day)})


def chain_completeness(chain: pl.DataFrame, day: date) -> list[Completeness]:
    """A day's completeness for readiness, one entry per root: expirations owed and quoted,
    and contracts that did not trade."""
    return [
        Completeness(c.root, "expirations", c.expected, c.present, c.missing, c.no_trade)
        for c in checks.root_completeness(chain, day)
    ]


@dataset_asset(
    NORMALIZED_CHAIN_SPEC,
    with_certified(checks.NORMALIZED_CHAIN_CHECKS),
    option_days,
    group_name="options",
)
def normalized_options_chain_eod(
    context: dg.AssetExecutionContext, lake: LakeResource, market: MarketDataResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Rebuild each contiguous block of the run's days from the raw captures, then certify each
    day."""
    store = lake.lake
    days = run_days(context)
    partitions = eod_days(days)
    replaced = Previous()
    chain = rebuild_blocks(
        store,
        days,
        keys.table(keys.RAW_CHAIN),
        keys.table(keys.NORMALIZED_CHAIN),
        normalize,
        context.run.run_id,
        ["root"],
        previous=replaced,
    )
    by_day = {d: rows for (d,), rows in chain.partition_by("trade_date", as_dict=True).items()}

    def previous(day: date) -> pl.DataFrame:
        before = previous_trading_day(day)
        return by_day[before] if before in by_day else previous_day(store, day)

    verdicts = checks.judge_days(checks.NORMALIZED_CHAIN_CHECKS, chain, days, previous)
    judged = Judged(
        checks.NORMALIZED_CHAIN_CHECKS, verdicts, selected_checks(context, keys.NORMALIZED_CHAIN)
    )
    certified = certify(
        store,
        NORMALIZED_CHAIN_SPEC,
        context.run.run_id,
        partitions,
        DAY_COLUMNS,
        Before.gathered(replaced),
        chain,
        judged,
        market.now(),
        {d.isoformat(): chain_completeness(by_day.get(d, chain.clear()), d) for d in days},
        dependents(NORMALIZED_CHAIN_SPEC.name, CERTIFIED_FROM),
    )
    yield dg.MaterializeResult(
        metadata={
            "rows": chain.height,
            "delta_version": store.version(keys.table(keys.NORMALIZED_CHAIN)),
            **certified.metadata(),
        }
    )
    yield from partition_checks(
        context,
        keys.NORMALIZED_CHAIN,
        with_certified(checks.NORMALIZED_CHAIN_CHECKS),
        certified.verdicts(verdicts),
    )
