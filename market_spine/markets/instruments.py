"""Futures specifications, expiry and roll rules, and symbology (CL, NG, ES and configured roots).

Kept free of session logic (it must not import `calendars`) so that every layer can resolve a
contract cheaply. Expiry rules count *business days*: weekdays that are not a US exchange
holiday (see `_holidays`). We keep our own holiday list rather than a pandas_market_calendars
calendar's, because the CME Globex calendars list only the days Globex is fully shut (New Year,
Good Friday, Christmas), while the contract rules also skip the days with no settlement (MLK,
Thanksgiving, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from market_spine.errors import InvalidInput, InvalidRange, UnknownSymbol
from market_spine.markets.dates import nth_weekday, on_or_before

MONTH_CODES = "FGHJKMNQUVXZ"  # Jan..Dec, the CME/IB futures month letters
_MIN_YEAR, _MAX_YEAR = 1980, 2100

# --- business days -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _holiday_rules() -> tuple[Any, ...]:
    """The US holidays on which CME products do not settle. New Year's Day on a Saturday is not
    moved to Friday (NYSE/CME practice); Juneteenth is observed by CME from 2022 only. pandas is
    imported here, on the first expiry computed, so resolving a symbol (every command's settings)
    does not pay its second of import."""
    from pandas.tseries.holiday import (
        MO,
        TH,
        DateOffset,
        Easter,
        Holiday,
        nearest_workday,
        sunday_to_monday,
    )

    return (
        Holiday("New Year's Day", month=1, day=1, observance=sunday_to_monday),
        Holiday("Martin Luther King Jr. Day", month=1, day=1, offset=DateOffset(weekday=MO(3))),
        Holiday("Presidents' Day", month=2, day=1, offset=DateOffset(weekday=MO(3))),
        Holiday("Good Friday", month=1, day=1, offset=[Easter(), DateOffset(days=-2)]),
        Holiday("Memorial Day", month=5, day=31, offset=DateOffset(weekday=MO(-1))),
        Holiday("Juneteenth", month=6, day=19, observance=nearest_workday, start_date="2022-01-01"),
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        Holiday("Labor Day", month=9, day=1, offset=DateOffset(weekday=MO(1))),
        Holiday("Thanksgiving", month=11, day=1, offset=DateOffset(weekday=TH(4))),
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    )


@lru_cache(maxsize=256)
def _holidays(year: int) -> frozenset[date]:
    """The exchange holidays falling in `year` (observed dates)."""
    start, end = f"{year}-01-01", f"{year}-12-31"
    return frozenset(d.date() for rule in _holiday_rules() for d in rule.dates(start, end))


def is_business_day(d: date) -> bool:
    """True on a weekday that is not an exchange holiday (the unit of the expiry rules)."""
    return d.weekday() < 5 and d not in _holidays(d.year)


def _shift_business_days(d: date, n: int) -> date:
    """The business day `n` business days after (n > 0) or before (n < 0) `d`."""
    step = timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    while remaining:
        d += step
        if is_business_day(d):
            remaining -= 1
    return d


# --- expiry rules ----------------------------------------------------------------------------


def _crude_last_trade(year: int, month: int) -> date:
    # NYMEX CL: 3 business days before the 25th of the prior month; when the 25th is not a
    # business day, 3 business days before the last business day preceding the 25th.
    prior = date(year - 1, 12, 25) if month == 1 else date(year, month - 1, 25)
    anchor = on_or_before(prior, is_business_day)
    return _shift_business_days(anchor, -3)


def _natgas_last_trade(year: int, month: int) -> date:
    # NYMEX NG: 3 business days prior to the first calendar day of the contract month.
    return _shift_business_days(date(year, month, 1), -3)


def _third_friday_last_trade(year: int, month: int) -> date:
    # CME equity index: the third Friday, or the business day before it if it is a holiday.
    return on_or_before(nth_weekday(year, month, 4), is_business_day)


def _fx_last_trade(year: int, month: int) -> date:
    # CME FX (e.g. 6E): 2 business days before the third Wednesday of the contract month.
    return _shift_business_days(nth_weekday(year, month, 2), -2)


_EXPIRY_RULES = {
    "crude": _crude_last_trade,
    "natgas": _natgas_last_trade,
    "third_friday": _third_friday_last_trade,
    "fx_third_wednesday": _fx_last_trade,
}


# --- instruments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instrument:
    """A futures root: contract specification plus the rules that pick its expiries and rolls."""

    root: str
    name: str
    exchange: str
    calendar: str  # a pandas_market_calendars name
    tick_size: float
    multiplier: float
    currency: str
    listed_months: str  # month codes, e.g. "HMUZ"
    last_trade_rule: str
    roll_rule: str
    roll_days_before_expiry: int  # business days, or calendar days if roll_calendar_days
    base_price: float  # typical price level for the simulated market
    expiry_rule: str = "third_friday"  # key of _EXPIRY_RULES
    roll_calendar_days: bool = False  # ES rolls 8 *calendar* days before expiry (CME convention)

    @property
    def price_decimals(self) -> int:
        """Decimal places of a price on the tick grid (0.25 → 2, 0.001 → 3): computed
        prices (roll gaps, difference back-adjustments) are rounded to them, so float dust
        never reaches a reader."""
        return max(0, -int(Decimal(str(self.tick_size)).normalize().as_tuple().exponent))

    def last_trade_date(self, year: int, month: int) -> date:
        """The last trading day of the contract month (`year`, `month`)."""
        return _last_trade_date(self.root, self.expiry_rule, year, month)

    def roll_date(self, year: int, month: int) -> date:
        """The first trade date on which we hold the next contract instead of this one."""
        ltd = self.last_trade_date(year, month)
        if self.roll_calendar_days:
            d = ltd - timedelta(days=self.roll_days_before_expiry)
            while not is_business_day(d):  # a roll falls on a day we can trade
                d += timedelta(days=1)
            return d
        return _shift_business_days(ltd, -self.roll_days_before_expiry)


@lru_cache(maxsize=4096)
def _last_trade_date(root: str, rule: str, year: int, month: int) -> date:
    return _EXPIRY_RULES[rule](year, month)


_INSTRUMENTS: dict[str, Instrument] = {
    "CL": Instrument(
        root="CL",
        name="WTI crude oil",
        exchange="NYMEX",
        calendar="CMEGlobex_CL",
        tick_size=0.01,
        multiplier=1000,
        currency="USD",
        listed_months=MONTH_CODES,
        last_trade_rule=(
            "3 business days before the 25th calendar day of the month prior to the contract "
            "month; if the 25th is not a business day, 3 business days before the last "
            "business day preceding the 25th"
        ),
        roll_rule="hold the next contract from 5 business days before the last trade date",
        roll_days_before_expiry=5,
        base_price=75.0,
        expiry_rule="crude",
    ),
    "NG": Instrument(
        root="NG",
        name="Henry Hub natural gas",
        exchange="NYMEX",
        calendar="CMEGlobex_NG",
        tick_size=0.001,
        multiplier=10000,
        currency="USD",
        listed_months=MONTH_CODES,
        last_trade_rule="3 business days prior to the first calendar day of the contract month",
        roll_rule="hold the next contract from 3 business days before the last trade date",
        roll_days_before_expiry=3,
        base_price=3.0,
        expiry_rule="natgas",
    ),
    "ES": Instrument(
        root="ES",
        name="E-mini S&P 500",
        exchange="CME",
        calendar="CME Globex Equity",
        tick_size=0.25,
        multiplier=50,
        currency="USD",
        listed_months="HMUZ",
        last_trade_rule=(
            "third Friday of the contract month (the business day before it if a holiday)"
        ),
        roll_rule=(
            "CME roll date: hold the next contract from 8 calendar days before the last trade "
            "date (the Thursday of the prior week)"
        ),
        roll_days_before_expiry=8,
        base_price=5000.0,
        expiry_rule="third_friday",
        roll_calendar_days=True,
    ),
}


#: The roots defined in code; a home's instruments file adds others (`register_instrument`).
BUILT_IN_ROOTS: tuple[str, ...] = tuple(sorted(_INSTRUMENTS))


def known_symbols() -> list[str]:
    """The configured futures roots, sorted."""
    return sorted(_INSTRUMENTS)


def get_instrument(root: str) -> Instrument:
    """The instrument for `root` (case-insensitive); UnknownSymbol if it is not configured
    (`not_a_root` says why)."""
    inst = _INSTRUMENTS.get(str(root).strip().upper())
    if inst is None:
        raise UnknownSymbol(not_a_root(str(root)))
    return inst


#: A continuous series' form, as Databento writes it: ROOT.<kind letter>.<rank> (ES.c.0, ES.v.1,
#: ES.n.0), the kind letter and root in any case.
_SERIES = re.compile(r"^(?P<root>[A-Za-z0-9]+)\.(?P<kind>[A-Za-z])\.(?P<rank>\d+)$")


def series_name(text: str) -> str | None:
    """`text` as a continuous series' canonical name when it has that form, whatever its case:
    the root upper case, the kind letter lower case (`es.C.1` → `ES.c.1`); None for any other
    symbol. Every reader of a series name (Spine, the API, the CLI, an import's --symbol and a
    file's symbols) goes through it, so `ES.C.1` is `ES.c.1` everywhere."""
    found = _SERIES.match(str(text).strip())
    if found is None:
        return None
    return f"{found['root'].upper()}.{found['kind'].lower()}.{int(found['rank'])}"


def parse_root(text: str, given: str = "") -> str:
    """The configured futures root `text` names, upper case (`cl` → `CL`), where a user gives a
    root: `given` is how they gave it (`symbol=`, `--symbols `), so the fix names the same
    parameter. UnknownSymbol (`not_a_root`) for anything else."""
    root = str(text).strip().upper()
    if root not in _INSTRUMENTS:
        raise UnknownSymbol(not_a_root(str(text), given))
    return root


def not_a_root(text: str, given: str = "") -> str:
    """Why `text` is no configured root, and what to pass instead: an outright contract
    (`ESM4`) is named as a contract of its root, a continuous series (`ES.c.0`) as a series;
    any other name is unknown, with the roots there are and how to declare another."""
    name = str(text).strip()
    said = f"{given}{name}" if given else repr(name)
    upper = name.upper()
    found = _LOCAL_SYMBOL.match(upper)
    pass_ = given or "its root "
    if found is not None and found["root"] in _INSTRUMENTS:
        root = found["root"]
        return (
            f"{said}: {upper} is a contract of {root}, not a root: pass {pass_}{root}, the "
            f"root whose data holds {upper}"
        )
    series_root = upper.split(".")[0]
    if "." in upper and series_root in _INSTRUMENTS:
        from market_spine.markets.rolls import continuous_symbol

        try:
            continuous_symbol(name)
        except UnknownSymbol as exc:
            return f"{said}: {exc}"
        return (
            f"{said}: {name} is a continuous series of {series_root}, not a root: pass "
            f"{pass_}{series_root}"
        )
    unknown = f"{said}: unknown symbol;" if given else f"unknown symbol {said}:"
    return (
        f"{unknown} known symbols are {', '.join(known_symbols())}; to use another root, "
        "declare it in the home's instruments.toml (see instruments.example.toml)"
    )


def register_instrument(inst: Instrument) -> None:
    """Add a root from configuration (e.g. 6E on CME_Currency); re-registering it unchanged is a
    no-op, while redefining an existing root is refused so specs cannot change silently."""
    root = inst.root
    if not root or root != root.upper() or not root.isalnum():
        raise InvalidInput(f"invalid root {root!r}: use upper-case letters and digits, e.g. '6E'")
    bad = sorted(set(inst.listed_months) - set(MONTH_CODES))
    if not inst.listed_months or bad:
        raise InvalidInput(
            f"invalid listed_months {inst.listed_months!r} for {root}: use month codes from "
            f"{MONTH_CODES} (Jan..Dec), e.g. 'HMUZ'"
        )
    if inst.expiry_rule not in _EXPIRY_RULES:
        raise InvalidInput(
            f"unknown expiry_rule {inst.expiry_rule!r} for {root}: use one of "
            f"{', '.join(sorted(_EXPIRY_RULES))}"
        )
    existing = _INSTRUMENTS.get(root)
    if existing is not None and existing != inst:
        raise InvalidInput(
            f"root {root!r} is already defined differently: pick another root or change the "
            "existing definition in code"
        )
    _INSTRUMENTS[root] = inst


# --- contracts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contract:
    """One listed contract month of a root, e.g. CL December 2024 (CLZ4)."""

    root: str
    year: int
    month: int

    @property
    def local_symbol(self) -> str:
        """IB/CME local symbol with a single-digit year, e.g. "CLZ4"."""
        return f"{self.root}{MONTH_CODES[self.month - 1]}{self.year % 10}"

    @property
    def last_trade_date(self) -> date:
        """The contract's last trading day."""
        return get_instrument(self.root).last_trade_date(self.year, self.month)

    @property
    def roll_date(self) -> date:
        """The first trade date on which the next contract is held instead of this one."""
        return get_instrument(self.root).roll_date(self.year, self.month)


def contract(root: str, year: int, month: int) -> Contract:
    """The contract of `root` for (`year`, `month`); InvalidInput if that month is not listed."""
    inst = get_instrument(root)
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise InvalidInput(f"year {year} out of range: use {_MIN_YEAR}..{_MAX_YEAR}")
    if not 1 <= month <= 12:
        raise InvalidInput(f"month {month} out of range: use 1..12")
    code = MONTH_CODES[month - 1]
    if code not in inst.listed_months:
        listed = ", ".join(str(MONTH_CODES.index(c) + 1) for c in inst.listed_months)
        raise InvalidInput(
            f"{inst.root} does not list month {month} ({code}): listed months are {listed} "
            f"({inst.listed_months})"
        )
    return Contract(inst.root, year, month)


_LOCAL_SYMBOL = re.compile(r"^(?P<root>[A-Z0-9]+?)(?P<code>[FGHJKMNQUVXZ])(?P<year>\d{1,2})$")


def parse_local_symbol(s: str, *, near: date | None = None) -> Contract:
    """Parse "CLZ4" (or "CLZ24") into a Contract; the decade (century) is the one putting the
    contract month nearest to `near` (default today), ties going to the later contract."""
    m = _LOCAL_SYMBOL.match(str(s).strip().upper())
    if m is None:
        raise InvalidInput(
            f"invalid local symbol {s!r}: expected ROOT + month code ({MONTH_CODES}) + year "
            "digit(s), e.g. 'CLZ4'"
        )
    inst = get_instrument(m["root"])
    month = MONTH_CODES.index(m["code"]) + 1
    near = near or date.today()
    digits = m["year"]
    period = 10 ** len(digits)
    base = near.year - near.year % period + int(digits)
    here = near.year * 12 + near.month

    def distance(year: int) -> tuple[int, int]:
        delta = year * 12 + month - here
        return abs(delta), -delta  # nearest first; on a tie, the later one

    year = min((base - period, base, base + period), key=distance)
    return contract(inst.root, year, month)


def _listed_after(inst: Instrument, year: int, month: int) -> Contract:
    """The first listed contract strictly after (`year`, `month`)."""
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if MONTH_CODES[month - 1] in inst.listed_months:
            return Contract(inst.root, year, month)


def next_contract(c: Contract, n: int = 1) -> Contract:
    """The `n`-th listed contract after `c` (n >= 0; n = 0 is `c` itself)."""
    if n < 0:
        raise InvalidInput(f"n={n}: count contracts forward with n >= 0")
    inst = get_instrument(c.root)
    for _ in range(n):
        c = _listed_after(inst, c.year, c.month)
    return c


def business_days_between(start: date, end: date) -> int:
    """Business days in (start, end]: 1 when `end` is the next business day after `start`."""
    step = 1 if end >= start else -1
    count, d = 0, start
    while d != end:
        d += timedelta(days=step)
        count += step if is_business_day(d) else 0
    return count


def front_contract(root: str, trade_date: date) -> Contract:
    """The contract held on `trade_date`: the first listed contract whose roll date is after it."""
    inst = get_instrument(root)
    # Every rule here expires no later than the contract month, so a contract whose month is
    # before trade_date's has rolled; starting two months back is a safety margin.
    year, month = trade_date.year, trade_date.month - 2
    if month < 1:
        year, month = year - 1, month + 12
    c = _listed_after(inst, year, month)
    while inst.roll_date(c.year, c.month) <= trade_date:
        c = _listed_after(inst, c.year, c.month)
    return c


def roll_dates(root: str, start: date, end: date) -> list[tuple[date, Contract, Contract]]:
    """Rolls with a roll date in [start, end]: (first trade date on the new contract, old, new)."""
    if start > end:
        raise InvalidRange(f"start {start} is after end {end}: pass start <= end")
    inst = get_instrument(root)
    out: list[tuple[date, Contract, Contract]] = []
    c = front_contract(inst.root, start - timedelta(days=1))
    while (rolled := inst.roll_date(c.year, c.month)) <= end:
        new = _listed_after(inst, c.year, c.month)
        if rolled >= start:
            out.append((rolled, c, new))
        c = new
    return out
