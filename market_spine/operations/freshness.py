"""The one-hour freshness SLA measured on the data itself: during a session, each symbol's newest
bar must be under an hour old. Dagster's FreshnessPolicy ignores partitions, so this check, run
every 15 minutes, is what tells an operator that the current session is stale."""

from collections.abc import Sequence
from datetime import datetime

import dagster as dg

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
    def futures_freshness(lake: LakeResource, market: MarketDataResource) -> dg.AssetCheckResult:
        """Read the newest stored bar of each symbol whose session is due, and judge its lag."""
        now = market.now()
        table = keys.table(keys.NORMALIZED_BARS)
        newest: dict[str, datetime | None] = {}
        for symbol, session in checks.sessions_due(captured, now).items():
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
