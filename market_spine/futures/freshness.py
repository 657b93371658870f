"""The futures freshness SLA as a pure rule: each symbol's newest bar is at most an hour of
open-market time old. The clock is the markets' open time, so breaks, holiday halts and weekends
never make data stale; the operations domain evaluates it on a schedule and inside load runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from market_spine.check_kit import CheckDef, CheckOutcome
from market_spine.markets import calendars, open_time

#: The freshness SLA: each symbol's newest bar is less than this much open-market time old.
FRESHNESS_SLA = timedelta(hours=1)


def sessions_owed(symbols: Iterable[str], now: datetime) -> dict[str, calendars.Session]:
    """Each symbol's session whose bars are owed at `now` (UTC): the latest that has opened,
    whether it trades, is in a break, or has closed and the next has not opened yet."""
    owed = {}
    for symbol in symbols:
        latest = calendars.latest_sessions(symbol, now, 1)
        if latest:
            owed[symbol] = latest[0]
    return owed


@dataclass(frozen=True)
class NewestBars:
    """The newest stored bar (UTC) of each symbol within its owed session, None when that
    session has none yet."""

    now: datetime
    sessions: dict[str, calendars.Session]
    newest: dict[str, datetime | None]


def open_lag(
    symbol: str, session: calendars.Session, newest: datetime | None, now: datetime
) -> timedelta:
    """Open-market time from the newest bar (or, without one, from the session's open) to
    `now`: the clock stops in breaks, halts, weekends and holidays and restarts at the reopen."""
    return open_time.open_between(symbol, session.open if newest is None else newest, now)


def freshness(latest: NewestBars) -> CheckOutcome:
    """Each owed session's newest bar is at most `FRESHNESS_SLA` of open-market time old at
    `latest.now`; a session without bars is stale once it has traded that long."""
    lags = {
        symbol: open_lag(symbol, session, latest.newest.get(symbol), latest.now)
        for symbol, session in latest.sessions.items()
    }
    stale = [symbol for symbol, lag in lags.items() if lag > FRESHNESS_SLA]
    halted = [s for s in latest.sessions if not open_time.is_open(s, latest.now)]
    return CheckOutcome(
        not stale,
        {
            "lag_minutes": {s: round(lag.total_seconds() / 60, 1) for s, lag in lags.items()},
            "newest_bar": {
                s: None if ts is None else pd.Timestamp(ts).isoformat()
                for s, ts in latest.newest.items()
            },
            "stale_symbols": ", ".join(stale),
            "halted_symbols": ", ".join(halted),
        },
    )


FRESHNESS_CHECK: CheckDef[NewestBars] = CheckDef(
    "freshness",
    "The newest bar of every symbol's current session is at most one hour of open-market time "
    "old: the clock stops in breaks, holiday halts and weekends and restarts at the reopen.",
    freshness,
)
