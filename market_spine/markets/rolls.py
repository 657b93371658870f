"""Continuous futures symbology and the roll window: which contracts a session is captured for.

A continuous series is named `ROOT.<rule>.<rank>` as Databento names them: `CL.c.0` holds the
front contract of our calendar roll rule (`instruments.front_contract`), `CL.c.1` the one listed
after it; `CL.v.0` holds the contract the volume roll chose, `CL.v.1` the one after that. The
volume roll can only happen inside the roll window, the `ROLL_WINDOW_DAYS` business days before
the calendar roll; without a crossing there, it happens with the calendar roll.

Date logic only (no data): the rolls themselves are measured from captured bars in
`futures.rolls`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from market_spine.errors import InvalidInput, UnknownSymbol
from market_spine.markets.instruments import (
    Contract,
    business_days_between,
    front_contract,
    get_instrument,
    next_contract,
    parse_local_symbol,
    series_name,
)

#: Business days before the calendar roll in which the volume roll is looked for, and in which
#: providers also capture the contract after the next one (the volume series' second rank).
ROLL_WINDOW_DAYS = 5
#: Rule letters of continuous symbols and what they stand for.
RULES = {"c": "calendar", "v": "volume"}
#: The ranks served: 0 (the held contract) and 1 (the one listed after it).
RANKS = (0, 1)

#: A root followed by a month code and a year digit or two: a contract, e.g. CLJ4 or CLJ24.
_CONTRACT_LIKE = re.compile(r"^[A-Z0-9]+[FGHJKMNQUVXZ]\d{1,2}$")


@dataclass(frozen=True)
class ContinuousSymbol:
    """One continuous series of a root: its roll rule (calendar or volume) and rank."""

    root: str
    rule: str
    rank: int

    @property
    def name(self) -> str:
        """The series' symbol, e.g. `CL.c.0`."""
        letter = next(k for k, v in RULES.items() if v == self.rule)
        return f"{self.root}.{letter}.{self.rank}"


def is_continuous(text: str) -> bool:
    """True when `text` names a continuous series, served or not, well formed or not: any
    symbol with a dot (`ES.c.0`, `ES.c.-1`, `ES..0`), since no root or contract has one. A
    reader sends such a name to `continuous_symbol`, which parses it or says which forms are
    served, rather than to the roots, whose refusal would call it a series of the root."""
    return "." in str(text)


#: The continuous series served, as every refusal of another names them.
SERVED = f"ROOT.c.N (calendar roll) or ROOT.v.N (volume roll), N in {RANKS}"


def unserved(text: str, root: str) -> str:
    """Why `text`, a dotted name of `root`, is no continuous series this platform serves, and
    which are: said the same of a rule or rank not built (`ES.c.9`, `ES.x.0`, Databento's
    `ES.n.0`) and of a malformed name (`ES.c.-1`, `ES.c`, `ES..0`, `ES.c.0.1`)."""
    return (
        f"{str(text).strip()} is not served: continuous series are {SERVED}, e.g. {root}.c.0 "
        "(Databento's open-interest series ROOT.n.N is not built)"
    )


def continuous_symbol(text: str) -> ContinuousSymbol:
    """Parse `CL.c.0` / `es.V.1` (`instruments.series_name`, any case); UnknownSymbol naming
    the served forms (`unserved`) for any other dotted name of a root, and the roots there are
    for a dotted name of none."""
    name = series_name(text)
    found_root = str(text).strip().split(".")[0]
    if not found_root:
        raise UnknownSymbol(f"{text!r} names no root: use {SERVED}, e.g. CL.c.0")
    root = get_instrument(found_root).root
    if name is None:
        raise UnknownSymbol(unserved(text, root))
    _, kind, found_rank = name.split(".")
    rule = RULES.get(kind)
    rank = int(found_rank)
    if rule is None or rank not in RANKS:
        raise UnknownSymbol(unserved(text, root))
    return ContinuousSymbol(root, rule, rank)


def root_of(text: str) -> str:
    """The futures root any symbol the platform serves names: a root (`cl`), a contract
    (`CLJ4`) or a continuous series (`CL.c.0`, `es.v.1`); UnknownSymbol (or the contract's
    InvalidInput) saying which forms are taken otherwise."""
    name = str(text).strip()
    if is_continuous(name):
        return continuous_symbol(name).root
    try:
        return get_instrument(name).root
    except UnknownSymbol as unknown:
        try:
            return parse_local_symbol(name).root
        except UnknownSymbol:
            raise unknown from None
        except InvalidInput as exc:
            if not _CONTRACT_LIKE.match(name.upper()):
                raise unknown from None
            raise exc from None


def series_of(root: str) -> tuple[ContinuousSymbol, ...]:
    """Every continuous series of a root, calendar first: c.0, c.1, v.0, v.1."""
    root = get_instrument(root).root
    return tuple(ContinuousSymbol(root, rule, rank) for rule in RULES.values() for rank in RANKS)


def business_days_to_roll(root: str, trade_date: date) -> int:
    """Business days from `trade_date` to the calendar roll of its front contract (>= 1)."""
    front = front_contract(root, trade_date)
    return business_days_between(trade_date, front.roll_date)


def in_roll_window(root: str, trade_date: date) -> bool:
    """True in the `ROLL_WINDOW_DAYS` business days before a calendar roll."""
    return business_days_to_roll(root, trade_date) <= ROLL_WINDOW_DAYS


def by_expiry(root: str, day: date, rank: int = 0) -> Contract:
    """The contract `rank` places after the nearest one not yet expired on `day` (rank 0: the
    nearest): what Databento's calendar continuous symbol `ROOT.c.<rank>` stands for that day,
    which rolls at expiry rather than at our roll date."""
    # A front contract two months back has rolled and expired before `day` or is the nearest.
    c = front_contract(root, day - timedelta(days=62))
    while c.last_trade_date < day:
        c = next_contract(c)
    return next_contract(c, rank)


def captured_contracts(root: str, trade_date: date) -> list[Contract]:
    """The contracts a session is captured for: the front, the next (the calendar series' second
    rank and the roll's other side) and, in the roll window, the one after (the volume series'
    second rank once the volume roll has happened)."""
    front = front_contract(root, trade_date)
    depth = 3 if in_roll_window(root, trade_date) else 2
    return [next_contract(front, n) for n in range(depth)]
