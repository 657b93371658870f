"""The one-hour freshness SLA measured on the data itself: during a session, each symbol's newest
bar must be under an hour old. Dagster's FreshnessPolicy ignores partitions, so this check, run
every 15 minutes, is what tells an operator that the current session is stale."""

from datetime import timedelta

import dagster as dg

from market_spine.futures import keys
from market_spine.futures.partitions import captured_symbols
from market_spine.lake.resource import LakeResource
from market_spine.markets import calendars
from market_spine.providers.resource import MarketDataResource

SLA = timedelta(hours=1)


@dg.asset_check(
    asset=keys.NORMALIZED_BARS,
    name="freshness",
    description="During a session, the newest bar of every symbol is less than one hour old.",
)
def futures_freshness(lake: LakeResource, market: MarketDataResource) -> dg.AssetCheckResult:
    """Compare each open session's newest stored bar with now."""
    now = market.now()
    symbols = captured_symbols()
    lags: dict[str, float | None] = {}
    stale: list[str] = []
    for symbol in symbols:
        session = calendars.session_at(symbol, now)
        if session is None or now - session.open < SLA:
            continue
        newest = None
        if lake.lake.exists(keys.table(keys.NORMALIZED_BARS)):
            bars = lake.lake.read(
                keys.table(keys.NORMALIZED_BARS),
                equals={"symbol": symbol},
                between={"trade_date": (session.trade_date, session.trade_date)},
                columns=["ts"],
            )
            newest = bars["ts"].max() if bars.height else None
        lag = None if newest is None else (now - newest).total_seconds() / 60
        lags[symbol] = None if lag is None else round(lag, 1)
        if lag is None or lag > SLA.total_seconds() / 60:
            stale.append(symbol)
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"lag_minutes": dg.MetadataValue.json(lags), "stale_symbols": ", ".join(stale)},
    )


freshness_job = dg.define_asset_job(
    "futures_freshness",
    selection=dg.AssetSelection.checks(futures_freshness),
    description="Evaluate the one-hour freshness SLA of the futures bars.",
)

freshness_schedule = dg.ScheduleDefinition(
    job=freshness_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
