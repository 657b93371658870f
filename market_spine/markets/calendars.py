"""Trading sessions per futures root and the 1-minute bar grid each session should produce.

Built on pandas_market_calendars (the instrument's `calendar`), corrected in three ways so the
grid matches what CME Globex actually does:

1. Trade dates follow CME: on a US holiday when Globex halts early without a settlement (MLK,
   Presidents', Memorial, Juneteenth, Independence, Labor, Thanksgiving Day), the holiday
   segment belongs to the *next* trade date, and the gap until the 17:00 CT reopen is a break.
   pandas_market_calendars instead reports the holiday as its own short session.
2. ES had a 15:15-15:30 CT halt until trade date 2021-06-28 that "CME Globex Equity" omits
   (pandas_market_calendars' CME_Equity calendar knows the same cut-over date).
3. The reviewed table of special sessions (`special_sessions.csv`, see `special_sessions`):
   every early close, holiday halt and closure of 2019-2027 with the exchange notice behind it,
   applied over the calendar (it wins where they differ, e.g. NYMEX energy's Christmas Eve
   12:45 CT close, a Good Friday without payrolls, a national day of mourning).

A bar's `ts` is its open, so a session's bars are every minute in [open, close) minus breaks.
Schedules are cached per (calendar, year) and sessions per (symbol, year): warm calls are
dictionary look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd
import pandas_market_calendars as mcal
from pandas.tseries.holiday import MO, TH, DateOffset, Holiday, nearest_workday

from market_spine.errors import InvalidDate, InvalidInput, InvalidRange, NotATradingDay
from market_spine.markets import instruments, special_sessions
from market_spine.markets.dates import parse_date

CHICAGO = ZoneInfo("America/Chicago")  # CME states every session time in Central time
_MIN_YEAR, _MAX_YEAR = 1990, 2100
_MAX_SESSION_DAYS = 5  # a session opens at most this many days before its trade date
_GLOBEX_OPEN = time(17)  # Globex opens each trade date at 17:00 CT the evening before


# Holidays on which Globex halts early and the trading rolls into the next trade date.
_HALT_HOLIDAYS = (
    Holiday("MLK", month=1, day=1, offset=DateOffset(weekday=MO(3))),
    Holiday("Presidents", month=2, day=1, offset=DateOffset(weekday=MO(3))),
    Holiday("Memorial", month=5, day=31, offset=DateOffset(weekday=MO(-1))),
    Holiday("Juneteenth", month=6, day=19, observance=nearest_workday, start_date="2022-01-01"),
    Holiday("Independence", month=7, day=4, observance=nearest_workday),
    Holiday("Labor", month=9, day=1, offset=DateOffset(weekday=MO(1))),
    Holiday("Thanksgiving", month=11, day=1, offset=DateOffset(weekday=TH(4))),
)

# Daily intra-session halts the calendar omits: calendar -> (start CT, end CT, last trade date).
_DAILY_HALTS: dict[str, tuple[time, time, date]] = {
    "CME Globex Equity": (time(15, 15), time(15, 30), date(2021, 6, 27)),
}


@dataclass(frozen=True)
class Session:
    """One trade date's Globex session; times are tz-aware UTC, breaks are [start, end)."""

    symbol: str
    trade_date: date
    open: pd.Timestamp
    close: pd.Timestamp
    breaks: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]
    early_close: bool
    note: str = ""

    def expected_minutes(self) -> pd.DatetimeIndex:
        """Every bar-open minute in [open, close) outside the breaks (UTC, ns)."""
        return _minutes(self)

    def contains(self, ts: datetime | pd.Timestamp) -> bool:
        """True if `ts` is inside [open, close), breaks included (naive `ts` is taken as UTC)."""
        t = _utc(ts)
        return self.open <= t < self.close


@lru_cache(maxsize=4096)
def _minutes(s: Session) -> pd.DatetimeIndex:
    idx = pd.date_range(s.open, s.close, freq="min", inclusive="left", unit="ns")
    for start, end in s.breaks:
        idx = idx[(idx < start) | (idx >= end)]
    return idx


def _utc(ts: datetime | pd.Timestamp) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _ct(d: date, t: time) -> pd.Timestamp:
    """Central-time wall clock on `d`, as UTC."""
    return pd.Timestamp(datetime.combine(d, t), tz=CHICAGO).tz_convert("UTC").as_unit("ns")


@lru_cache(maxsize=16)
def _calendar(name: str) -> mcal.MarketCalendar:
    """A pandas_market_calendars calendar, made once per name: each new one works out its
    holidays again (a large share of a year's schedule), where a kept one reuses them."""
    return mcal.get_calendar(name)


@lru_cache(maxsize=128)
def _schedule(calendar: str, year: int) -> tuple[tuple[date, pd.Timestamp, pd.Timestamp], ...]:
    """pandas_market_calendars' (date, open, close) rows for one calendar year."""
    sched = _calendar(calendar).schedule(f"{year}-01-01", f"{year}-12-31")
    return tuple(
        (d.date(), o.as_unit("ns"), c.as_unit("ns"))
        for d, o, c in zip(sched.index, sched["market_open"], sched["market_close"], strict=True)
    )


@lru_cache(maxsize=128)
def _halt_holidays(year: int) -> frozenset[date]:
    start, end = f"{year}-01-01", f"{year}-12-31"
    return frozenset(d.date() for rule in _HALT_HOLIDAYS for d in rule.dates(start, end))


Times = tuple[pd.Timestamp, pd.Timestamp, str]  # (open, close, note)


def _reviewed(
    root: str, year: int, calendar: str, regular_close: time
) -> tuple[dict[date, Times], frozenset[date]]:
    """The calendar's (open, close) per date with the reviewed special sessions applied, and the
    holidays whose trading rolls into the next trade date."""
    days = {d: (o, c, "") for d, o, c in _schedule(calendar, year)}
    halts = set(_halt_holidays(year))
    for s in special_sessions.in_year(root, year):
        halts.discard(s.day)
        if s.kind == "closed" or s.time is None:  # only closed rows have no time
            days.pop(s.day, None)
            continue
        open_, close, _ = days.get(s.day) or (
            _ct(s.day - timedelta(days=1), _GLOBEX_OPEN),
            _ct(s.day, regular_close),
            "",
        )
        if s.kind == "late_open":
            # An evening time reopens the session the evening before its trade date.
            on = s.day - timedelta(days=1) if s.time >= _GLOBEX_OPEN else s.day
            open_ = _ct(on, s.time)
        else:
            close = _ct(s.day, s.time)
        if s.kind == "holiday_halt":
            halts.add(s.day)
        days[s.day] = (open_, close, f"{s.occasion}: {s.source}")
    return dict(sorted(days.items())), frozenset(halts)


@lru_cache(maxsize=128)
def _year(symbol: str, year: int) -> dict[date, Session]:
    """Every session of `symbol` whose trade date falls in `year`, corrections applied."""
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise InvalidDate(f"year {year} is out of range: use dates in {_MIN_YEAR}..{_MAX_YEAR}")
    inst = instruments.get_instrument(symbol)
    regular_close = _calendar(inst.calendar).close_time
    halt = _DAILY_HALTS.get(inst.calendar)
    days, holidays = _reviewed(inst.root, year, inst.calendar, regular_close)
    out: dict[date, Session] = {}
    carry: tuple[pd.Timestamp, pd.Timestamp] | None = None  # a holiday segment to prepend
    for d, (open_, close, special) in days.items():
        if d in holidays:
            carry = (open_, close)
            continue
        breaks: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        notes = [special] if special else []
        if carry is not None:
            breaks.append((carry[1], open_))
            open_ = carry[0]
            notes.append("includes the preceding holiday's trading (CME trade date)")
            carry = None
        if halt is not None and d <= halt[2] and close > _ct(d, halt[1]):
            breaks.append((_ct(d, halt[0]), _ct(d, halt[1])))
        early = close.tz_convert(CHICAGO).time() < regular_close
        out[d] = Session(inst.root, d, open_, close, tuple(breaks), early, "; ".join(notes))
    return out


def session_hours(symbol: str) -> str:
    """`symbol`'s regular Globex hours in words, from its calendar, e.g. `ES trades 17:00 to
    16:00 America/Chicago, opening the evening before each trade date (Monday to Friday, the
    CME Globex Equity calendar); no bars in the daily 16:00-17:00 break, at weekends or on
    holidays`. Early closes and holiday halts are the calendar's too, not named here."""
    inst = instruments.get_instrument(symbol)
    cal = _calendar(inst.calendar)
    opens, closes = f"{cal.open_time:%H:%M}", f"{cal.close_time:%H:%M}"
    week = str(getattr(cal, "weekmask", "Mon Tue Wed Thu Fri")).split()
    days = f"{_WEEKDAYS[week[0]]} to {_WEEKDAYS[week[-1]]}" if week else "every day"
    evening = ", opening the evening before each trade date" if cal.open_offset < 0 else ""
    halt = _DAILY_HALTS.get(inst.calendar)
    halted = (
        f", nor in the {halt[0]:%H:%M}-{halt[1]:%H:%M} halt of trade dates until {halt[2]}"
        if halt
        else ""
    )
    return (
        f"{inst.root} trades {opens} to {closes} {cal.tz}{evening} ({days}, the "
        f"{inst.calendar} calendar); no bars in the daily {closes}-{opens} break{halted}, at "
        "weekends or on holidays"
    )


_WEEKDAYS = {
    "Mon": "Monday",
    "Tue": "Tuesday",
    "Wed": "Wednesday",
    "Thu": "Thursday",
    "Fri": "Friday",
    "Sat": "Saturday",
    "Sun": "Sunday",
}


def _root(symbol: str) -> str:
    return instruments.get_instrument(symbol).root


def session(symbol: str, trade_date: date) -> Session | None:
    """The session of `symbol` on `trade_date`, or None if there is none (weekend, holiday)."""
    d = parse_date(trade_date)
    return _year(_root(symbol), d.year).get(d)


def data_final_at(symbol: str, trade_date: date) -> datetime:
    """When a trade date's bars of `symbol` are final (tz-aware UTC): its session's close, early
    closes and halts included; for a day without a session, the Central-time midnight that ends
    it (nothing can trade for it after that)."""
    s = session(symbol, trade_date)
    if s is not None:
        return s.close.to_pydatetime()
    d = parse_date(trade_date)
    return _ct(d + timedelta(days=1), time(0)).to_pydatetime()


def _step_trading_day(root: str, d: date, step: int) -> date | None:
    for _ in range(20):  # no CME closure lasts longer than a long weekend
        d += timedelta(days=step)
        if _year(root, d.year).get(d) is not None:
            return d
    return None


def previous_trading_day(symbol: str, d: date) -> date | None:
    """The last trade date with a session before `d` (None past a closure of weeks)."""
    return _step_trading_day(_root(symbol), d, -1)


def require_session(symbol: str, trade_date: date) -> Session:
    """The session on `trade_date`; NotATradingDay naming the nearest trading days otherwise."""
    root = _root(symbol)
    d = parse_date(trade_date)
    s = _year(root, d.year).get(d)
    if s is None:
        prev, nxt = _step_trading_day(root, d, -1), _step_trading_day(root, d, 1)
        raise NotATradingDay(
            f"{root} has no session on {d} ({d:%A}): the previous trading day is {prev} and the "
            f"next is {nxt}; pick one of those"
        )
    return s


def sessions(symbol: str, start: date, end: date) -> list[Session]:
    """Sessions with a trade date in [start, end], in order; InvalidRange if start > end."""
    root = _root(symbol)
    start, end = parse_date(start), parse_date(end)
    if start > end:
        raise InvalidRange(f"start {start} is after end {end}: pass start <= end")
    out: list[Session] = []
    for year in range(start.year, end.year + 1):
        out.extend(s for d, s in _year(root, year).items() if start <= d <= end)
    return out


def trading_days(symbol: str, start: date, end: date) -> list[date]:
    """Trade dates with a session in [start, end]."""
    return [s.trade_date for s in sessions(symbol, start, end)]


def is_trading_day(symbol: str, d: date) -> bool:
    """True if `symbol` has a session on trade date `d`."""
    return session(symbol, d) is not None


def expected_minutes(symbol: str, trade_date: date) -> pd.DatetimeIndex:
    """The session's expected bar-open minutes; an empty UTC index if there is no session."""
    s = session(symbol, trade_date)
    if s is None:
        return pd.DatetimeIndex([], dtype="datetime64[ns, UTC]")
    return s.expected_minutes()


def _candidates(root: str, t: pd.Timestamp) -> list[Session]:
    """Sessions that could contain or have opened by `t`, ordered by open (small window)."""
    first = t.tz_convert(CHICAGO).date()  # a session closes on its trade date, 16:00 CT at latest
    days = [first + timedelta(days=i) for i in range(_MAX_SESSION_DAYS + 1)]
    found = [_year(root, d.year).get(d) for d in days]
    return [s for s in found if s is not None]


def session_at(symbol: str, ts: datetime) -> Session | None:
    """The session whose [open, close) contains `ts` (inside a break counts), else None."""
    root = _root(symbol)
    t = _utc(ts)
    for s in _candidates(root, t):
        if s.open <= t < s.close:
            return s
    return None


def latest_sessions(symbol: str, now: datetime, n: int) -> list[Session]:
    """The last `n` sessions that have opened by `now` (the current one included), oldest first."""
    if n < 0:
        raise InvalidInput(f"n must be >= 0, got {n}: pass the number of sessions wanted")
    root = _root(symbol)
    t = _utc(now)
    out: list[Session] = [s for s in _candidates(root, t) if s.open <= t]
    d = t.tz_convert(CHICAGO).date()
    while len(out) < n and d.year > _MIN_YEAR:
        d -= timedelta(days=1)
        s = _year(root, d.year).get(d)
        if s is not None and s.open <= t:
            out.append(s)
    out.sort(key=lambda s: s.open)
    return out[max(len(out) - n, 0) :] if n else []


def latest_trade_date(symbol: str, now: datetime | None = None) -> date | None:
    """The trade date of the newest session that has opened by `now` (default the wall clock):
    today's while it trades or after its close, the last one before a weekend or holiday; None
    before the calendar's first year."""
    found = latest_sessions(symbol, now or datetime.now(UTC), 1)
    return found[-1].trade_date if found else None


__all__ = [
    "Session",
    "expected_minutes",
    "is_trading_day",
    "latest_sessions",
    "latest_trade_date",
    "require_session",
    "session",
    "session_at",
    "session_hours",
    "sessions",
    "trading_days",
]
