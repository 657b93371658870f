"""Parse the dates, timestamps and ranges users type, with errors that show the accepted forms."""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from market_spine.errors import InvalidDate, InvalidRange, NoSuchDate
from market_spine.markets.zone_abbreviations import abbreviation_advice, is_utc

#: The clock every daily partition (futures, options, the minute fact) is labelled on: UTC+2, so a
#: CME session's trade date appears when it opens (18:00 ET is midnight or 01:00 at UTC+2). One
#: clock for all, so partitions of different datasets map onto each other date for date.
TRADE_DATE_TIMEZONE = "Etc/GMT-2"

#: One minute in nanoseconds: the step of every 1-minute grid (timestamps are ns since the epoch).
MINUTE_NS = 60_000_000_000

FORMS = "'2024-01-02', '20240102' or an ISO timestamp like '2024-01-02T14:30:00Z'"
#: The forms of a whole date, where a timestamp is not taken.
DAY_ONLY = "YYYY-MM-DD or YYYYMMDD, e.g. 2024-01-02"

#: A date's form (YYYY-MM-DD or YYYYMMDD), alone or opening a timestamp ('T' or ' ' follows).
_DATE_FORM = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?=$|[T ])|(\d{4})(\d{2})(\d{2})$")


def _existing_day(text: str, name: str, forms: str) -> None:
    """Raise NoSuchDate when `text` has a date's form but its day is not on the calendar, so
    the error says which part is wrong (the day past the month's end, the month, the year)
    rather than that the form is, then the `forms` `name` takes."""
    found = _DATE_FORM.match(text)
    if found is None:
        return
    year, month, day = (int(g) for g in found.groups() if g is not None)
    takes = f"{name} takes {forms}"
    if not 1 <= year <= 9999:
        raise NoSuchDate(f"{name} {text!r} does not exist: years run from 0001 to 9999", takes)
    if not 1 <= month <= 12:
        raise NoSuchDate(f"{name} {text!r} does not exist: there is no month {month:02d}", takes)
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        month_name = calendar.month_name[month]
        problem = f"{name} {text!r} does not exist: {month_name} {year} has {last} days"
        raise NoSuchDate(problem, takes)


def parse_date(value: str | date | datetime, name: str = "date") -> date:
    """A calendar date from "2024-01-02", "20240102", a date, or a datetime (its date).
    A day the calendar lacks (2024-02-30) raises NoSuchDate saying so; any other text raises
    InvalidDate showing the accepted forms."""
    if isinstance(value, datetime):
        return value.date()
    try:
        point = parse_point(value, name)
    except NoSuchDate as exc:
        raise NoSuchDate(exc.problem, f"{name} takes {DAY_ONLY}") from None
    except InvalidDate:
        point = None
    if not isinstance(point, date) or isinstance(point, datetime):
        raise InvalidDate(f"invalid {name} {value!r}: expected {DAY_ONLY}")
    return point


def parse_point(value: str | date | datetime, name: str = "date") -> date | datetime:
    """A date stays a date (a whole trade date); a timestamp becomes an aware UTC datetime.
    Only ASCII digits count: other scripts' digits are refused, never read as numbers. A date
    the calendar lacks raises NoSuchDate (an InvalidDate) naming why."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text.isascii():
        raise InvalidDate(f"{name} {value!r} has characters outside ASCII; use {FORMS}")
    _existing_day(text, name, FORMS)
    try:
        if len(text) == 8 and text.isdigit():
            return datetime.strptime(text, "%Y%m%d").date()
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidDate(f"{name} {value!r} is not a date or timestamp; use {FORMS}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_range(
    start: str | date | datetime, end: str | date | datetime | None
) -> tuple[date, date] | tuple[datetime, datetime]:
    """Both ends as dates (trade dates, inclusive) or both as UTC timestamps ([start, end))."""
    lo = parse_point(start, "start")
    hi = lo if end is None else parse_point(end, "end")
    if isinstance(lo, datetime) != isinstance(hi, datetime):
        lo = lo if isinstance(lo, datetime) else datetime(lo.year, lo.month, lo.day, tzinfo=UTC)
        hi = hi if isinstance(hi, datetime) else datetime(hi.year, hi.month, hi.day, tzinfo=UTC)
    in_order(lo, hi)  # type: ignore[type-var]
    return lo, hi  # type: ignore[return-value]


def in_order(start: date, end: date, names: tuple[str, str] = ("start", "end")) -> None:
    """InvalidRange when `end` is before `start`, naming both as the caller calls them."""
    if end < start:
        raise InvalidRange(f"{names[1]} {end} is before {names[0]} {start}: swap them")


def nth_weekday(year: int, month: int, weekday: int, n: int = 3) -> date:
    """The `n`-th `weekday` (Mon=0) of the month: third Fridays, third Wednesdays."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def on_or_before(day: date, is_open: Callable[[date], bool]) -> date:
    """`day` if the venue is open then, else the last day before it that is (expiry rules that
    move a holiday expiration to the previous business or trading day)."""
    while not is_open(day):
        day -= timedelta(days=1)
    return day


def parse_time_zone(name: str, option: str = "--tz") -> ZoneInfo:
    """The IANA time zone `name` (America/Chicago, Europe/London, UTC), as given after `option`;
    InvalidDate when it is not one: for an abbreviation (CST, ET, BST ...), even one tzdata
    keeps as a fixed offset, the zones it usually means and why; else the closest IANA
    names."""
    text = name.strip()
    if is_utc(text):
        return ZoneInfo("UTC")
    advice = abbreviation_advice(text, option)
    if advice is not None:
        raise InvalidDate(advice)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    # Region/City names only: tzdata's legacy short names (UCT, EST, PRC) are what a mistyped
    # abbreviation resembles, and none is what a user means.
    places = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
    close = difflib.get_close_matches(text, places, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise InvalidDate(
        f"{option} {name!r} is not an IANA time zone{hint}: pass a name like America/Chicago, "
        "Europe/London, America/New_York or UTC"
    )
