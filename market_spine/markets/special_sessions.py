"""The reviewed table of special sessions: every early close, holiday halt, closure and late open
of 2019-2027 for the futures roots (CME Globex) and for SPX/SPXW (Cboe index options).

pandas_market_calendars encodes recurring rules and misses one-off days (Christmas Eve on NYMEX
energy, Christmas Eve on Cboe, a national day of mourning, a Good Friday without payrolls), so
`special_sessions.csv` is applied over it: the file wins wherever it has a row, and a test checks
that every non-regular weekday the platform computes in the audited years has a row and vice
versa. Columns:

- `market`: a futures root (CL, NG, ES) or SPX, the Cboe index-options session SPX and SPXW share.
- `date`: the exchange's date (for CME, the day the holiday or early close happens).
- `kind`: `closed` (no trading that day), `early_close` (the session of that trade date ends at
  `time_ct`), `holiday_halt` (CME: trading halts at `time_ct` and reopens 17:00 CT for the next
  trade date, which owns the holiday's trading) or `late_open` (the session opens at `time_ct`).
- `time_ct`: Central-time wall clock, HH:MM (empty for `closed`); both CME and Cboe state their
  hours in Central time.
- `occasion`: the holiday or event, for the reader.
- `source`: the exchange notice that sets the day (holiday calendar of the year, press release
  with its date); rows for years the exchange has not yet published say `provisional`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from market_spine.errors import InvalidInput

PATH = Path(__file__).with_name("special_sessions.csv")
#: The years the table covers completely; outside them the calendars' own rules apply.
FIRST_YEAR, LAST_YEAR = 2019, 2027
#: The futures roots with audited rows, and the Cboe index-options session.
FUTURES_ROOTS = ("CL", "NG", "ES")
OPTIONS_MARKET = "SPX"
MARKETS = (*FUTURES_ROOTS, OPTIONS_MARKET)

Kind = Literal["closed", "early_close", "holiday_halt", "late_open"]
KINDS: tuple[str, ...] = get_args(Kind)
_COLUMNS = ["market", "date", "kind", "time_ct", "occasion", "source"]


@dataclass(frozen=True)
class SpecialSession:
    """One reviewed day of one market; `time` is Central wall clock (None when `closed`)."""

    market: str
    day: date
    kind: Kind
    time: time | None
    occasion: str
    source: str


def _parse(line: int, row: dict[str, str]) -> SpecialSession:
    where = f"{PATH.name} line {line}"
    market, kind, clock = row["market"], row["kind"], row["time_ct"]
    if market not in MARKETS:
        raise InvalidInput(f"{where}: market {market!r} is not one of {', '.join(MARKETS)}")
    if kind not in KINDS:
        raise InvalidInput(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    try:
        day = date.fromisoformat(row["date"])
        at = time.fromisoformat(clock) if clock else None
    except ValueError as e:
        raise InvalidInput(f"{where}: {e}; write dates as YYYY-MM-DD and times as HH:MM") from e
    if market == OPTIONS_MARKET and kind == "holiday_halt":
        raise InvalidInput(f"{where}: holiday_halt is a CME trade-date rule; Cboe is closed or not")
    if (at is None) != (kind == "closed"):
        need = "no time_ct" if kind == "closed" else "a time_ct (HH:MM, Central)"
        raise InvalidInput(f"{where}: a {kind} row needs {need}")
    if not FIRST_YEAR <= day.year <= LAST_YEAR or day.weekday() >= 5:
        raise InvalidInput(f"{where}: {day} is not a weekday of {FIRST_YEAR}..{LAST_YEAR}")
    if not row["source"].strip():
        raise InvalidInput(f"{where}: every row needs the exchange notice that sets it")
    return SpecialSession(market, day, kind, at, row["occasion"], row["source"])  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[date, SpecialSession]]:
    out: dict[str, dict[date, SpecialSession]] = {m: {} for m in MARKETS}
    with PATH.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != _COLUMNS:
            raise InvalidInput(f"{PATH.name}: columns must be {','.join(_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            s = _parse(line, row)
            if s.day in out[s.market]:
                raise InvalidInput(f"{PATH.name} line {line}: {s.market} {s.day} is listed twice")
            out[s.market][s.day] = s
    return out


def for_market(market: str) -> dict[date, SpecialSession]:
    """Every reviewed day of `market` (a root in FUTURES_ROOTS, or SPX); empty for other roots."""
    return _table().get(market, {})


def in_year(market: str, year: int) -> list[SpecialSession]:
    """The reviewed days of `market` in `year`, in date order."""
    return sorted((s for s in for_market(market).values() if s.day.year == year), key=_day)


def _day(s: SpecialSession) -> date:
    return s.day


__all__ = [
    "FIRST_YEAR",
    "FUTURES_ROOTS",
    "KINDS",
    "LAST_YEAR",
    "MARKETS",
    "OPTIONS_MARKET",
    "SpecialSession",
    "for_market",
    "in_year",
]
