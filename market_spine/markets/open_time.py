"""Open-market time: the intervals in which a market trades, and how much of it passed between
two instants. A clock that stops while the market is halted (a daily maintenance break, a
holiday halt, a weekend or a holiday's long weekend) and restarts at the reopen.

Futures roots follow their Globex sessions (`calendars`: each session's [open, close) minus its
breaks); the option roots SPX and SPXW follow the Cboe index-options session (`expirations`).
Instants are tz-aware (naive ones are taken as UTC); intervals are [start, end) in UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from market_spine.markets import calendars, expirations

#: The Cboe index-options session's clock.
NEW_YORK = ZoneInfo("America/New_York")

#: One open stretch of a market: [start, end) in UTC.
Interval = tuple[pd.Timestamp, pd.Timestamp]

# A Globex session opens at most this many days before its trade date, on which it closes.
_SESSION_SPAN = timedelta(days=6)


def _utc(at: datetime | pd.Timestamp) -> pd.Timestamp:
    t = pd.Timestamp(at)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).as_unit("ns")


def _session_intervals(session: calendars.Session) -> list[Interval]:
    """A Globex session's trading stretches: [open, close) minus its breaks."""
    out: list[Interval] = []
    start = session.open
    for brk_start, brk_end in sorted(session.breaks):
        if brk_start > start:
            out.append((start, brk_start))
        start = max(start, brk_end)
    if start < session.close:
        out.append((start, session.close))
    return out


def _futures_intervals(root: str, start: pd.Timestamp, end: pd.Timestamp) -> list[Interval]:
    first = start.tz_convert(calendars.CHICAGO).date()
    last = (end.tz_convert(calendars.CHICAGO) + _SESSION_SPAN).date()
    return [i for s in calendars.sessions(root, first, last) for i in _session_intervals(s)]


def _option_intervals(start: pd.Timestamp, end: pd.Timestamp) -> list[Interval]:
    first = start.tz_convert(NEW_YORK).date()
    last = end.tz_convert(NEW_YORK).date()
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    bounds = (expirations.session_bounds(d) for d in days)
    return [(_utc(b[0]), _utc(b[1])) for b in bounds if b is not None]


def is_option_root(root: str) -> bool:
    """True for the index-option roots (SPX, SPXW), which trade on the Cboe session."""
    return root.strip().upper() in expirations.ROOTS


def open_intervals(
    root: str, start: datetime | pd.Timestamp, end: datetime | pd.Timestamp
) -> list[Interval]:
    """The stretches of [start, end) in which `root` trades, clipped to it, in order (UTC).

    A futures root's breaks and the gaps between its sessions are left out, as are the Cboe
    session's nights, weekends and holidays for SPX/SPXW. UnknownSymbol for an unknown root."""
    t0, t1 = _utc(start), _utc(end)
    if t1 <= t0:
        return []
    option = is_option_root(root)
    raw = _option_intervals(t0, t1) if option else _futures_intervals(root, t0, t1)
    return [(max(a, t0), min(b, t1)) for a, b in raw if a < t1 and b > t0]


def open_between(
    root: str, start: datetime | pd.Timestamp, end: datetime | pd.Timestamp
) -> timedelta:
    """How long `root` traded between `start` and `end`; zero when `end` <= `start`."""
    total = sum(((b - a) for a, b in open_intervals(root, start, end)), pd.Timedelta(0))
    return pd.Timedelta(total).to_pytimedelta()


def is_open(root: str, at: datetime | pd.Timestamp) -> bool:
    """True if `root` trades at the instant `at` (a break or a closed day is not open)."""
    t = _utc(at)
    return bool(open_intervals(root, t, t + pd.Timedelta(1, "ns")))


__all__ = ["Interval", "is_open", "is_option_root", "open_between", "open_intervals"]
