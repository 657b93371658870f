"""The one-hour freshness SLA measured on the data itself: during a session, each symbol's newest
bar must be under an hour old. Dagster's FreshnessPolicy ignores partitions, so this check, run
every 15 minutes, is what tells an operator that the current session is stale."""

from collections.abc import Mapping, Sequence
from datetime import datetime

import dagster as dg
from dagster._core.errors import DagsterInvalidPropertyError
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from market_spine.check_kit import check_result
from market_spine.futures import checks, keys
from market_spine.lake.resource import LakeResource
from market_spine.providers.resource import MarketDataResource

#: The freshness check's key: its job selects it by key, as the check itself is built per home.
FRESHNESS_CHECK_KEY = dg.AssetCheckKey(keys.NORMALIZED_BARS, checks.FRESHNESS_CHECK.name)


def build_freshness_check(symbols: Sequence[str]) -> dg.AssetChecksDefinition:
    """The freshness SLA check over the symbols a home captures (`captured_symbols`)."""
    captured = list(symbols)

    @dg.asset_check(
        asset=keys.NORMALIZED_BARS,
        name=checks.FRESHNESS_CHECK.name,
        description=checks.FRESHNESS_CHECK.description,
    )
    def futures_freshness(
        context: dg.AssetCheckExecutionContext, lake: LakeResource, market: MarketDataResource
    ) -> dg.AssetCheckResult:
        """Read the newest stored bar of each symbol whose session is due, and judge its lag.
        In a run that loads some symbols' partitions, only those symbols are judged: the
        others are not this run's to load (the schedule's runs judge every symbol)."""
        now = market.now()
        table = keys.table(keys.NORMALIZED_BARS)
        in_run = run_symbols(_run_tags(context))
        judged = [s for s in captured if in_run is None or s in in_run]
        newest: dict[str, datetime | None] = {}
        for symbol, session in checks.sessions_due(judged, now).items():
            newest[symbol] = None
            if lake.lake.exists(table):
                day = (session.trade_date, session.trade_date)
                bars = lake.lake.read(
                    table, equals={"symbol": symbol}, between={"trade_date": day}, columns=["ts"]
                )
                newest[symbol] = bars["ts"].max() if bars.height else None
        outcome = checks.FRESHNESS_CHECK.evaluate(checks.NewestBars(now, newest))
        return check_result(keys.NORMALIZED_BARS, checks.FRESHNESS_CHECK.name, outcome)

    return futures_freshness


def _run_tags(context: dg.AssetCheckExecutionContext) -> Mapping[str, str]:
    """The tags of the run evaluating the check; none when it is invoked directly."""
    try:
        return context.run.tags
    except DagsterInvalidPropertyError:
        return {}


def run_symbols(tags: Mapping[str, str]) -> set[str] | None:
    """The symbols of a run's futures partitions (`2024-03-05|CL` keys, one partition or a
    range), or None for a run that names no partition."""
    found = [
        tags.get(tag)
        for tag in (
            PARTITION_NAME_TAG,
            ASSET_PARTITION_RANGE_START_TAG,
            ASSET_PARTITION_RANGE_END_TAG,
        )
    ]
    symbols = {key.split("|", 1)[1] for key in found if key and "|" in key}
    return symbols or None


freshness_job = dg.define_asset_job(
    "futures_freshness",
    selection=dg.AssetSelection.checks(FRESHNESS_CHECK_KEY),
    description="Evaluate the one-hour freshness SLA of the futures bars.",
)

freshness_schedule = dg.ScheduleDefinition(
    job=freshness_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
