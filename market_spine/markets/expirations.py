"""SPX and SPXW expiration schedules on the Cboe index-options calendar.

SPX: AM-settled monthlies on the third Friday (the previous trading day when that Friday is a
holiday). SPXW: PM-settled weeklies and dailies, every weekday on which the exchange opens, from
the dates each weekday was introduced (the table below). The listing horizon is a model of what
is listed on a given day, used by the simulated market and the completeness check.

Sessions come from pandas_market_calendars' Cboe index-options calendar with the reviewed special
sessions (`special_sessions.csv`, market SPX) applied over it: the calendar misses, for one, the
Christmas Eve early closes. On an early-close day everything that follows the session ends early
with it: the quote-minute grid, the EOD snapshot and the PM settlement (the SPX close).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from market_spine.errors import InvalidInput
from market_spine.markets import special_sessions
from market_spine.markets.dates import MINUTE_NS, nth_weekday, on_or_before

if TYPE_CHECKING:
    import pandas_market_calendars as mcal

#: The option roots the platform captures: AM monthlies (SPX) and PM weeklies/dailies (SPXW).
ROOTS = ("SPX", "SPXW")
CALENDAR = "CBOE_Index_Options"
_ET = ZoneInfo("America/New_York")
_CT = ZoneInfo("America/Chicago")
#: On a full day: PM-settled SPXW settle at the 16:00 ET close; AM-settled SPX at the 09:30 ET
#: opening print.
SETTLE_TIME = {"SPXW": time(16, 0), "SPX": time(9, 30)}
#: EOD snapshot on a full day: options stop trading at 16:15 ET (ThetaData builds EOD reports at
#: 17:15); on an early-close day it is the session's close.
EOD_TIME = time(16, 15)
#: SPX and SPXW trade this long after the cash close that strikes the SPX closing value (16:15
#: after 16:00 ET; 13:15 after 13:00 ET on an early-close day).
INDEX_OPTIONS_OVERTIME = timedelta(minutes=15)
#: A day's EOD chain is final once the EOD reports are built: 17:15 ET (early closes included,
#: since the reports are built at the same hour).
EOD_FINAL_TIME = time(17, 15)
YEAR_SECONDS = 365.0 * 24 * 3600


def settlement(root: str, expiration: date) -> datetime:
    """The UTC instant an expiration settles. A PM-settled SPXW settles on the SPX closing value,
    struck at the cash close: 16:00 ET, or 13:00 ET on an early-close day."""
    root = root.upper()
    regular = datetime.combine(expiration, SETTLE_TIME[root], _ET).astimezone(UTC)
    bounds = session_bounds(expiration) if root == "SPXW" else None
    return regular if bounds is None else min(regular, bounds[1] - INDEX_OPTIONS_OVERTIME)


def eod_timestamp(day: date) -> datetime:
    """The UTC instant of a day's EOD snapshot: the session's close (16:15 ET on a full day)."""
    regular = datetime.combine(day, EOD_TIME, _ET).astimezone(UTC)
    bounds = session_bounds(day)
    return regular if bounds is None else min(regular, bounds[1])


def eod_final_at(day: date) -> datetime:
    """When `day`'s end-of-day option chain is final (tz-aware UTC): 17:15 ET that day."""
    return datetime.combine(day, EOD_FINAL_TIME, _ET).astimezone(UTC)


def years_to_expiry(root: str, expiration: date, day: date) -> float:
    """Year fraction (ACT/365 in seconds) from `day`'s EOD snapshot to settlement."""
    return (settlement(root, expiration) - eod_timestamp(day)).total_seconds() / YEAR_SECONDS


#: First expiration of SPXW on each weekday (Mon=0 … Fri=4). Reviewed assumptions from Cboe's
#: product announcements: Friday weeklies since 2005, Wednesday 2016-02, Monday 2016-08,
#: Tuesday and Thursday 2022 (completing daily expirations).
SPXW_WEEKDAY_START = {
    4: date(2005, 10, 28),
    2: date(2016, 2, 24),
    0: date(2016, 8, 22),
    1: date(2022, 4, 19),
    3: date(2022, 5, 12),
}
#: How far ahead expirations are listed on a given day (a simplified listing model).
DAILY_HORIZON = timedelta(days=42)
WEEKLY_HORIZON = timedelta(days=370)
MONTHLY_HORIZON = timedelta(days=3 * 366)


@lru_cache(maxsize=1)
def _calendar() -> mcal.MarketCalendar:
    """The Cboe index-options calendar, made once: each new one works out its holidays again
    (about 0.4 s), where a kept one answers a year's valid days in about 10 ms. Imported here:
    pandas comes with it, and what needs only the roots or OSI dates should not pay for it."""
    import pandas_market_calendars as mcal

    return mcal.get_calendar(CALENDAR)


@lru_cache(maxsize=32)
def _sessions(year: int) -> dict[date, tuple[datetime, datetime]]:
    """Each trading day's (open, close) in UTC, with the reviewed special sessions applied."""
    schedule = _calendar().schedule(f"{year}-01-01", f"{year}-12-31")
    days = {
        d.date(): (o.to_pydatetime(), c.to_pydatetime())
        for d, o, c in zip(
            schedule.index, schedule["market_open"], schedule["market_close"], strict=True
        )
    }
    cal = _calendar()
    for s in special_sessions.in_year(special_sessions.OPTIONS_MARKET, year):
        if s.kind == "closed" or s.time is None:  # only closed rows have no time
            days.pop(s.day, None)
            continue
        open_, close = days.get(s.day) or (
            datetime.combine(s.day, cal.open_time, _CT).astimezone(UTC),
            datetime.combine(s.day, cal.close_time, _CT).astimezone(UTC),
        )
        at = datetime.combine(s.day, s.time, _CT).astimezone(UTC)
        days[s.day] = (at, close) if s.kind == "late_open" else (open_, at)
    return dict(sorted(days.items()))


@lru_cache(maxsize=64)
def _trading_days(year: int) -> frozenset[date]:
    """The year's trading days, the same as `_sessions(year)`'s keys at a tenth of the cost:
    the calendar's valid days, less the reviewed closures, plus the reviewed special sessions
    (a session with an odd open or close is a trading day). Building the options partitions
    asks this of every year since their start on every load of the code location."""
    valid = _calendar().valid_days(f"{year}-01-01", f"{year}-12-31")
    days = {d.date() for d in valid}
    for s in special_sessions.in_year(special_sessions.OPTIONS_MARKET, year):
        if s.kind == "closed" or s.time is None:
            days.discard(s.day)
        else:
            days.add(s.day)
    return frozenset(days)


def session_bounds(day: date) -> tuple[datetime, datetime] | None:
    """The (open, close) UTC instants of `day`'s index-options session; None on a holiday."""
    return _sessions(day.year).get(day)


def is_trading_day(day: date) -> bool:
    """True when the Cboe index-options market opens that day."""
    return day in _trading_days(day.year)


def opened_trading_days(now: datetime, n: int) -> list[date]:
    """The last `n` index-options trading days whose session has opened by `now` (aware),
    oldest first: what a load of "the last n days" of chains can capture."""
    day, out = now.astimezone(_ET).date(), []
    while len(out) < n and day.year >= 1990:
        bounds = session_bounds(day)
        if bounds is not None and bounds[0] <= now:
            out.append(day)
        day -= timedelta(days=1)
    return out[::-1]


def is_early_close(day: date) -> bool:
    """True when `day`'s session closes before the full-day 16:15 ET (13:15 ET on an early
    close); False on a full day or a holiday."""
    bounds = session_bounds(day)
    return bounds is not None and bounds[1] < datetime.combine(day, EOD_TIME, _ET).astimezone(UTC)


def closed_weekdays(start: date, end: date) -> list[date]:
    """Weekdays in [start, end] on which the Cboe index-options market stays closed (holidays
    and special closures): no chain, no expiration and no partition is owed on them."""
    days = (start + timedelta(days=i) for i in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5 and not is_trading_day(d)]


def monthly_expiration(year: int, month: int) -> date:
    """SPX's AM-settled expiration: the third Friday, or the trading day before a holiday."""
    return on_or_before(nth_weekday(year, month, 4), is_trading_day)


def expirations(root: str, start: date, end: date) -> list[date]:
    """Every expiration of `root` (SPX or SPXW) in [start, end]."""
    root = root.upper()
    if end < start:
        raise InvalidInput(f"end {end} is before start {start}: swap them")
    if root == "SPX":
        months = [(y, m) for y in range(start.year, end.year + 1) for m in range(1, 13)]
        return [d for y, m in months if start <= (d := monthly_expiration(y, m)) <= end]
    if root == "SPXW":
        days = (start + timedelta(days=i) for i in range((end - start).days + 1))
        return [d for d in days if _spxw_expires(d)]
    raise InvalidInput(f"option root {root!r} is not SPX or SPXW")


def _spxw_expires(day: date) -> bool:
    begun = SPXW_WEEKDAY_START.get(day.weekday())
    return begun is not None and day >= begun and is_trading_day(day)


def listed_expirations(root: str, on: date) -> list[date]:
    """Expirations of `root` that trade on `on`: dailies six weeks out, Fridays a year out,
    monthlies (third Fridays) three years out."""
    root = root.upper()
    if root not in ROOTS:
        raise InvalidInput(f"option root {root!r} is not SPX or SPXW")
    if root == "SPX":
        return expirations("SPX", on, on + MONTHLY_HORIZON)
    candidates = expirations("SPXW", on, on + WEEKLY_HORIZON)
    return [
        d
        for d in candidates
        if d - on <= DAILY_HORIZON or d.weekday() == 4 or d == monthly_expiration(d.year, d.month)
    ]


def first_listed(root: str, expiration: date) -> date:
    """The first day `expiration` is listed under the horizon model of `listed_expirations`
    (a monthly three years ahead, a Friday a year ahead, any other daily six weeks ahead)."""
    root = root.upper()
    if root == "SPX":
        horizon = MONTHLY_HORIZON
    elif expiration.weekday() == 4 or expiration == monthly_expiration(
        expiration.year, expiration.month
    ):
        horizon = WEEKLY_HORIZON
    else:
        horizon = DAILY_HORIZON
    return expiration - horizon


def trades_on(root: str, expiration: date, day: date) -> bool:
    """True when contracts of `expiration` trade in `day`'s session: the exchange opens and the
    expiration settles after the open. A PM-settled SPXW trades its whole last day (0DTE, until
    the 16:00 ET settlement); an AM-settled SPX monthly settles at the opening print of its
    expiration day, so it last trades the day before."""
    bounds = session_bounds(day)
    return bounds is not None and day <= expiration and settlement(root, expiration) > bounds[0]


def traded_expirations(root: str, on: date) -> list[date]:
    """Expirations of `root` whose contracts trade on `on` (0DTE SPXW included): the ones an EOD
    report, open interest and the completeness check carry for that day."""
    return [e for e in listed_expirations(root, on) if trades_on(root, e, on)]


def session_minutes(day: date) -> np.ndarray:
    """The minute stamps (bar opens, ns UTC) of `day`'s index-options session; empty if none."""
    bounds = session_bounds(day)
    if bounds is None:
        return np.empty(0, dtype=np.int64)
    start, end = (int(b.timestamp()) * 1_000_000_000 for b in bounds)
    return np.arange(start, end, MINUTE_NS, dtype=np.int64)


def quote_minutes_expected(
    root: str, expiration: date, day: date, now: datetime | None = None
) -> int:
    """How many minute quotes each contract of `expiration` has on `day`: the session's
    minutes before settlement that have closed by `now` (default: the wall clock)."""
    minutes = session_minutes(day)
    settle_ns = int(settlement(root.upper(), expiration).timestamp()) * 1_000_000_000
    cutoff = int((now or datetime.now(UTC)).timestamp() * 1e9) - MINUTE_NS
    return int(((minutes < settle_ns) & (minutes <= cutoff)).sum())
