"""Why a read of a range came back with no rows: the market had no session then, the range is
still in the future, or the sessions happened but the lake holds no data for them yet.

Spine raises these as an `EmptyReadWarning`; the API sends the same reason in the
`X-Empty-Reason` header and the `empty_reason` field of its JSON body.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

from market_spine.errors import InvalidInput
from market_spine.markets import calendars, expirations
from market_spine.markets.instruments import (
    Contract,
    front_contract,
    known_symbols,
    next_contract,
    parse_local_symbol,
)
from market_spine.markets.rolls import captured_contracts, is_continuous

NO_SESSION = "no_session"
FUTURE = "future"
NOT_LOADED = "not_loaded"
NOT_LISTED = "not_listed"
NO_ROLL = "no_roll"
PREDATES = "predates"


@dataclass(frozen=True)
class EmptyReason:
    """`code` is one of no_session, future, not_loaded, not_listed, no_roll, predates; `detail`
    says it
    in words, with the command or parameter that would find data."""

    code: str
    detail: str

    def as_json(self) -> dict[str, str]:
        """The reason as the API's `empty_reason` body field."""
        return asdict(self)


class EmptyReadWarning(UserWarning):
    """A read returned no rows; `reason` says why."""

    def __init__(self, reason: EmptyReason | str) -> None:
        # Warning machinery (pytest-xdist, logging) rebuilds warnings from their message alone.
        if isinstance(reason, str):
            reason = EmptyReason(NOT_LOADED, reason)
        super().__init__(reason.detail)
        self.reason = reason


def _days(lo: date, hi: date) -> str:
    return str(lo) if lo == hi else f"{lo}..{hi}"


def _closed(lo: date, hi: date) -> str:
    """`Saturday 2024-03-09` or `2024-03-09..2024-03-10 (Saturday to Sunday)`."""
    if lo == hi:
        return f"{lo:%A} {lo}"
    return f"{lo}..{hi} ({lo:%A} to {hi:%A})"


def futures_bars(
    root: str,
    start: date | datetime,
    end: date | datetime,
    now: datetime | None = None,
) -> EmptyReason:
    """Why a root's bars over trade dates [start, end] (or bar opens in [start, end)) are empty."""
    now = now or datetime.now(UTC)
    if isinstance(start, datetime) and isinstance(end, datetime):
        lo_day, hi_day = start.date() - timedelta(days=1), end.date() + timedelta(days=6)
        open_sessions = [
            s for s in calendars.sessions(root, lo_day, hi_day) if s.open < end and s.close > start
        ]
        span = f"{start.isoformat()}..{end.isoformat()}"
        if not open_sessions:
            return EmptyReason(
                NO_SESSION,
                f"{root} trades no session between {span}: the exchange is closed then "
                "(a weekend, a holiday or the daily break)",
            )
        days = [s.trade_date for s in open_sessions]
        if start >= now:
            return EmptyReason(FUTURE, f"{span} is in the future: {root} has no bars there yet")
        return _not_loaded(root, min(days), max(days))
    assert isinstance(start, date) and isinstance(end, date)
    found = calendars.sessions(root, start, end)
    if not found:
        return EmptyReason(
            NO_SESSION,
            f"{root} has no session on {_closed(start, end)}: the exchange is closed "
            "(a weekend or a holiday); pick a trading day",
        )
    if all(s.open.to_pydatetime() >= now for s in found):
        return EmptyReason(
            FUTURE,
            f"{_days(start, end)} is in the future: {root}'s first session there opens at "
            f"{found[0].open.isoformat()}",
        )
    return _not_loaded(root, found[0].trade_date, found[-1].trade_date)


class PartialReadWarning(UserWarning):
    """A read returned rows, but not of every trading day its range asked for; the message
    names the days missing and the command that loads them."""


def missing_sessions(
    root: str, start: date, end: date, present: set[date], now: datetime | None = None
) -> list[date]:
    """The trade dates in [start, end] on which `root` had a session that has opened by `now`
    but which are not in `present` (the trade dates a read returned)."""
    now = now or datetime.now(UTC)
    opened = [s.trade_date for s in calendars.sessions(root, start, end) if s.open < now]
    return [day for day in opened if day not in present]


def partial(symbol: str, root: str, start: date, end: date, missing: list[date]) -> str:
    """What a partial read of `symbol` over [start, end] lacks, and how to load it."""
    named = ", ".join(str(d) for d in missing[:5]) + (" …" if len(missing) > 5 else "")
    count = f"{len(missing)} trading day{'s' if len(missing) > 1 else ''}"
    return (
        f"{symbol} over {_days(start, end)}: {count} not in the lake ({named}); "
        f"load them with {_load_command(root, missing[0], missing[-1])}"
    )


def _load_command(root: str, lo: date, hi: date) -> str:
    """The command that captures `root`'s sessions of trade dates [lo, hi]."""
    dates = f"--date {lo}" if lo == hi else f"--start {lo} --end {hi}"
    return f"`market-spine process {dates} --symbols {root} --domain futures`"


def _not_loaded(root: str, lo: date, hi: date) -> EmptyReason:
    return EmptyReason(
        NOT_LOADED,
        f"{root} traded on {_days(lo, hi)} but the lake holds no bars for it yet: load them "
        f"with {_load_command(root, lo, hi)}",
    )


def predates(dataset: str, asked: int, first: int | None) -> EmptyReason:
    """Why a read `as_of` version `asked` of `dataset` is empty when the newest version holds
    rows in its range: the version predates them. `first` is the first version holding them
    (None when it can no longer be read), so the fix names the version to read or says to read
    the newest."""
    since = (
        f"first holds them at version {first}: pass as_of={first} or later, or " if first else ""
    )
    return EmptyReason(
        PREDATES,
        f"version {asked} of {dataset} predates these rows, which the lake holds now: "
        f"{dataset} {since}drop as_of to read the newest version",
    )


def rolls(root: str, start: date, end: date, now: datetime | None = None) -> EmptyReason:
    """Why a root's roll table over trade dates [start, end] is empty: no calendar roll falls
    in it (`no_roll`, naming the next), the roll is still ahead (`future`), or the sessions of
    the rolls due in it were never loaded (`not_loaded`)."""
    from market_spine.markets.instruments import roll_dates
    from market_spine.markets.rolls import ROLL_WINDOW_DAYS

    now = now or datetime.now(UTC)
    due = roll_dates(root, start, end)
    if not due:
        day, old, new = roll_dates(root, end + timedelta(days=1), end + timedelta(days=400))[0]
        return EmptyReason(
            NO_ROLL,
            f"{root} has no calendar roll on {_days(start, end)}: the next takes effect on "
            f"{day} ({old.local_symbol} → {new.local_symbol}), and the volume roll at most "
            f"{ROLL_WINDOW_DAYS} business days before it; widen the range to include it",
        )
    day, old, new = due[0]
    opens = calendars.session(root, day)
    if opens is not None and opens.open.to_pydatetime() >= now:
        return EmptyReason(
            FUTURE, f"{root}'s roll {old.local_symbol} → {new.local_symbol} on {day} is ahead"
        )
    return EmptyReason(
        NOT_LOADED,
        f"{root} rolls from {old.local_symbol} to {new.local_symbol} on {day} but the lake "
        f"holds no rolls for it: load that session (`market-spine process --date {day} "
        f"--symbols {root} --domain futures`, or import its bars of both contracts)",
    )


def option_day(day: date, now: datetime | None = None) -> EmptyReason:
    """Why an SPX/SPXW read of trade date `day` is empty."""
    now = now or datetime.now(UTC)
    bounds = expirations.session_bounds(day)
    if bounds is None:
        return EmptyReason(
            NO_SESSION,
            f"the index-options market has no session on {_closed(day, day)} "
            "(a weekend or a holiday); pick a trading day",
        )
    if bounds[0] >= now:
        return EmptyReason(
            FUTURE, f"{day} is in the future: its session opens at {bounds[0].isoformat()}"
        )
    return EmptyReason(
        NOT_LOADED,
        f"the options market traded on {day} but the lake holds no options data for it yet: "
        f"load it with `market-spine process --date {day} --domain options`",
    )


def not_listed(day: date, expiration: date, listed: list[date]) -> EmptyReason:
    """The day is loaded, but not for the expiration asked for."""
    choices = ", ".join(str(d) for d in listed[:8]) + (", ..." if len(listed) > 8 else "")
    return EmptyReason(
        NOT_LISTED,
        f"the data of {day} holds no expiration {expiration}: pass one of {choices}",
    )


def outright_contract(symbol: str | None, near: date) -> Contract | None:
    """The contract `symbol` names (`ESM4`, the decade nearest `near`) when it is an outright
    contract of a known root rather than a root or a continuous series; None otherwise."""
    text = (symbol or "").strip().upper()
    if not text or is_continuous(text) or text in known_symbols():
        return None
    try:
        return parse_local_symbol(text, near=near)
    except InvalidInput:
        return None


def contract_series(contract: Contract, day: date) -> str | None:
    """The calendar continuous series holding `contract` on trade date `day` (`ES.c.0` for the
    roll rule's front, `ES.c.1` for the next), or None when neither does."""
    front = front_contract(contract.root, day)
    for rank, held in enumerate((front, next_contract(front))):
        if held == contract:
            return f"{contract.root}.c.{rank}"
    return None


def contract_read(contract: Contract, day: date, loaded: bool, imported: bool = False) -> str:
    """What a read of an outright contract (`symbol=ESM4`) should ask for instead, on trade
    date `day`: the calendar series that holds it then, and, unless `loaded` (the lake holds
    its bars of that day), the capture or import that loads them (an import only when the
    session holds `imported` vendor-file bars, which a capture would replace)."""
    root, name = contract.root, contract.local_symbol
    front = front_contract(root, day).local_symbol
    series = contract_series(contract, day)
    said = (
        f"{name} is a contract of {root}, not a root or a series: symbol={root} reads the front "
        f"contract of the roll rule ({front} on {day})"
    )
    if calendars.session(root, day) is None:
        return f"{said}; {root} has no session on {_closed(day, day)}: pick a trading day"
    if series is None:
        return (
            f"{said}, and on {day} neither {root}.c.0 nor {root}.c.1 holds {name}, so no read "
            f"serves its bars of that day; pick a day when {name} is the front or the next "
            "contract"
        )
    ask = f"pass symbol={series} (each bar's `contract` column names {name})"
    if series.endswith(".c.0"):
        ask = f"pass symbol={root} or {series}"
    if loaded:
        return f"{said}; on {day} {name}'s bars are served as {series}: {ask}"
    captured = captured_contracts(root, day)
    capture = (
        f"capture them with `market-spine process --date {day} --symbols {root} --domain "
        f"futures` (it captures {', '.join(c.local_symbol for c in captured)} that day), or "
        "import"
        if contract in captured and not imported
        else "import"
    )
    return (
        f"{said}; on {day} {name} is {series}, but the lake holds no {name} bars of that day: "
        f"{capture} a vendor file of them with `market-spine import bars FILE --symbol {name}`; "
        f"then {ask}"
    )
