"""The one-hour freshness SLA measured on the data itself: each symbol's newest bar of its
current session must be at most an hour of open-market time old, a clock that stops while the
market is halted (breaks, holiday halts, weekends) and restarts at the reopen. Dagster's
FreshnessPolicy ignores partitions and the market's calendar, so this check, run every 15
minutes, is what tells an operator that the current session is stale."""

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta

import dagster as dg
import polars as pl
from dagster._core.errors import DagsterInvalidPropertyError
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from market_spine.check_kit import asset_level_verdict
from market_spine.futures import freshness as bars_sla
from market_spine.futures import keys
from market_spine.lake.resource import LakeResource
from market_spine.markets.expirations import ROOTS
from market_spine.options import freshness as chains_sla
from market_spine.options import keys as option_keys
from market_spine.providers.resource import MarketDataResource

#: The freshness check's key: its job selects it by key, as the check itself is built per home.
FRESHNESS_CHECK_KEY = dg.AssetCheckKey(keys.NORMALIZED_BARS, bars_sla.FRESHNESS_CHECK.name)
CHAIN_FRESHNESS_CHECK_KEY = dg.AssetCheckKey(
    option_keys.NORMALIZED_CHAIN, chains_sla.CHAIN_FRESHNESS_CHECK.name
)
#: How far before the owed trade date the newest stored chain is looked for; an older one is
#: as stale as none.
_CHAIN_LOOKBACK = timedelta(days=31)


def build_freshness_check(symbols: Sequence[str]) -> dg.AssetChecksDefinition:
    """The freshness SLA check over the symbols a home captures (`captured_symbols`)."""
    captured = list(symbols)

    @dg.asset_check(
        asset=keys.NORMALIZED_BARS,
        name=bars_sla.FRESHNESS_CHECK.name,
        description=bars_sla.FRESHNESS_CHECK.description,
    )
    def futures_freshness(
        context: dg.AssetCheckExecutionContext, lake: LakeResource, market: MarketDataResource
    ) -> dg.AssetCheckResult | Iterator[dg.AssetCheckEvaluation | dg.Output]:
        """Read the newest stored bar of each symbol's owed session, and judge its lag in
        open-market time. In a run that loads partitions, only the owed sessions among them are
        judged: other symbols and other days are not this run's to load (the schedule judges
        them all)."""
        now = market.now()
        table = keys.table(keys.NORMALIZED_BARS)
        in_run = run_partitions(_run_tags(context))
        due = bars_sla.sessions_owed(captured, now)
        if in_run is not None:
            due = {
                symbol: session
                for symbol, session in due.items()
                if symbol in in_run and in_run[symbol][0] <= session.trade_date <= in_run[symbol][1]
            }
        newest: dict[str, datetime | None] = {}
        for symbol, session in due.items():
            newest[symbol] = None
            if lake.lake.exists(table):
                day = (session.trade_date, session.trade_date)
                bars = lake.lake.read(
                    table, equals={"symbol": symbol}, between={"trade_date": day}, columns=["ts"]
                )
                newest[symbol] = bars["ts"].max() if bars.height else None
        outcome = bars_sla.FRESHNESS_CHECK.evaluate(bars_sla.NewestBars(now, due, newest))
        return asset_level_verdict(
            context, keys.NORMALIZED_BARS, bars_sla.FRESHNESS_CHECK.name, outcome
        )

    return futures_freshness


@dg.asset_check(
    asset=option_keys.NORMALIZED_CHAIN,
    name=chains_sla.CHAIN_FRESHNESS_CHECK.name,
    description=chains_sla.CHAIN_FRESHNESS_CHECK.description,
)
def options_chain_freshness(
    context: dg.AssetCheckExecutionContext, lake: LakeResource, market: MarketDataResource
) -> dg.AssetCheckResult | Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """Read each root's newest stored EOD chain trade date and judge it against the last closed
    Cboe session, in the session's open-market time. A run that loads trade dates short of the
    owed session (a backfill of past days) owes nothing for it: the schedule judges that."""
    now = market.now()
    in_run = run_trade_dates(_run_tags(context))
    owed = chains_sla.owed_session(now, in_run)
    newest: dict[str, date | None] = dict.fromkeys(ROOTS)
    table = option_keys.table(option_keys.NORMALIZED_CHAIN)
    if owed is not None and lake.lake.exists(table):
        span = (owed - _CHAIN_LOOKBACK, owed)
        days = lake.lake.read(table, between={"trade_date": span}, columns=["root", "trade_date"])
        for root, day in days.group_by("root").agg(pl.col("trade_date").max()).iter_rows():
            if root in newest:
                newest[root] = day
    outcome = chains_sla.CHAIN_FRESHNESS_CHECK.evaluate(chains_sla.NewestChain(now, newest, in_run))
    return asset_level_verdict(
        context, option_keys.NORMALIZED_CHAIN, chains_sla.CHAIN_FRESHNESS_CHECK.name, outcome
    )


def _run_tags(context: dg.AssetCheckExecutionContext) -> Mapping[str, str]:
    """The tags of the run evaluating the check; none when it is invoked directly."""
    try:
        return context.run.tags
    except DagsterInvalidPropertyError:
        return {}


def run_partitions(tags: Mapping[str, str]) -> dict[str, tuple[date, date]] | None:
    """Symbol → (first, last) trade date of a run's futures partitions (`2024-03-05|CL` keys,
    one partition or a single-symbol range), or None for a run that names no partition."""
    names = (PARTITION_NAME_TAG, ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG)
    keys_found = [key for key in (tags.get(name) for name in names) if key and "|" in key]
    spans: dict[str, tuple[date, date]] = {}
    for key in keys_found:
        day, symbol = key.split("|", 1)
        d = date.fromisoformat(day)
        lo, hi = spans.get(symbol, (d, d))
        spans[symbol] = (min(lo, d), max(hi, d))
    return spans or None


def run_trade_dates(tags: Mapping[str, str]) -> tuple[date, date] | None:
    """(first, last) trade date of a run's option partitions (`2024-03-05` keys, one partition
    or a range), or None for a run that names no such partition."""
    names = (PARTITION_NAME_TAG, ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG)
    days = []
    for key in (tags.get(name) for name in names):
        try:
            days.append(date.fromisoformat(key)) if key else None
        except ValueError:
            continue
    return (min(days), max(days)) if days else None


freshness_job = dg.define_asset_job(
    "futures_freshness",
    selection=dg.AssetSelection.checks(FRESHNESS_CHECK_KEY, CHAIN_FRESHNESS_CHECK_KEY),
    description="Evaluate the one-hour freshness SLAs of the futures bars and the option chains.",
)

freshness_schedule = dg.ScheduleDefinition(
    job=freshness_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
