"""The option chains' freshness SLA as a pure rule: each root's EOD chain of the last closed
Cboe session is stored within an hour of open-market time after its close (nights, weekends and
holidays do not count). A warning, since chains load on demand rather than on a schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from market_spine.check_kit import CheckDef, CheckOutcome
from market_spine.markets import open_time
from market_spine.markets.expirations import session_bounds

#: The EOD chain of a Cboe session is owed within this much open-market time after its close.
EOD_FRESHNESS_SLA = timedelta(hours=1)
#: No Cboe closure lasts longer: the last closed session is found within this many days.
_CLOSURE_DAYS = 10


def last_closed_session(now: datetime) -> date | None:
    """The latest Cboe index-options trading day whose session has closed by `now` (tz-aware)."""
    today = now.astimezone(open_time.NEW_YORK).date()
    for back in range(_CLOSURE_DAYS + 1):
        day = today - timedelta(days=back)
        bounds = session_bounds(day)
        if bounds is not None and bounds[1] <= now:
            return day
    return None


def owed_session(now: datetime, in_run: tuple[date, date] | None = None) -> date | None:
    """The session whose EOD chain is owed at `now`: the last closed one, unless a run loading
    the trade dates `in_run` (first, last) falls short of it, and so owes none."""
    owed = last_closed_session(now)
    if in_run is None or owed is None:
        return owed
    return owed if in_run[0] <= owed <= in_run[1] else None


def _first_owed_close(newest: date | None, owed: date) -> datetime:
    """The close of the first session after `newest` up to `owed` (of `owed` itself when no
    chain is stored): when the first missing EOD chain became due."""
    day = owed if newest is None else newest + timedelta(days=1)
    while (bounds := session_bounds(day)) is None:  # ends by `owed`, a trading day
        day += timedelta(days=1)
    return bounds[1]


@dataclass(frozen=True)
class NewestChain:
    """The newest stored EOD chain trade date of each option root (None without one) at `now`
    (tz-aware), and the trade dates (first, last) of the run judging it, if it loads some."""

    now: datetime
    newest: dict[str, date | None]
    in_run: tuple[date, date] | None = None


def chain_freshness(latest: NewestChain) -> CheckOutcome:
    """Each root's EOD chain of every closed Cboe session is stored, or has been owed for at
    most `EOD_FRESHNESS_SLA` of open-market time: nights, weekends and holidays do not count,
    so Friday's chain is due an hour into the next session, not an hour after Friday's close.
    A run loading trade dates short of the owed session (a backfill) owes nothing for it."""
    owed = owed_session(latest.now, latest.in_run)
    lags: dict[str, float] = {}
    for root, newest in latest.newest.items():
        if owed is None or (newest is not None and newest >= owed):
            lags[root] = 0.0
            continue
        lag = open_time.open_between(root, _first_owed_close(newest, owed), latest.now)
        lags[root] = round(lag.total_seconds() / 60, 1)
    limit = EOD_FRESHNESS_SLA.total_seconds() / 60
    stale = [root for root, lag in lags.items() if lag > limit]
    return CheckOutcome(
        not stale,
        {
            "owed_trade_date": None if owed is None else owed.isoformat(),
            "newest_trade_date": {
                r: None if d is None else d.isoformat() for r, d in latest.newest.items()
            },
            "lag_minutes": lags,
            "stale_roots": ", ".join(stale),
        },
        warn_only=True,
    )


#: The EOD chains' freshness SLA. A warning: option chains load on demand, without a schedule.
CHAIN_FRESHNESS_CHECK: CheckDef[NewestChain] = CheckDef(
    "freshness",
    "The EOD chain of each root's last closed Cboe session is stored within one hour of "
    "open-market time after its close: nights, weekends and holidays do not count.",
    chain_freshness,
)
