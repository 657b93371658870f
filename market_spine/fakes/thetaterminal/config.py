"""What the fake terminal serves and how it misbehaves: its configuration and faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal, get_args

from market_spine.markets.expirations import is_trading_day

FaultKind = Literal[
    "429",
    "471",
    "473",
    "474",
    "476",
    "500",
    "570",
    "571",
    "slow",
    "drop",
    "truncate",
    "malformed",
    "nulls",
]
#: Status faults answer with that code and a plain-text body, as the terminal does.
STATUS_TEXT = {
    "429": "Too many requests: the request queue is full.",
    "471": "Permission denied: your subscription does not include this data.",
    "473": "Invalid parameters.",
    "474": "Disconnected from the ThetaData servers; reconnecting.",
    "476": "Wrong IP address: requests from 127.0.0.1 and localhost were mixed.",
    "500": "Internal server error.",
    "570": "Request too large: split it.",
    "571": "The terminal is starting; try again shortly.",
}


@dataclass
class Fault:
    """One injected fault. Scripted (`probability=None`) faults are consumed in list order, each
    for `times` requests; probabilistic ones hit each request with `probability` (seeded), at most
    `times` times (`None` = unlimited). `nulls` serves the real answer with some of its value
    fields empty and some prices NaN, as the feed sends them."""

    kind: FaultKind
    times: int | None = 1
    seconds: float = 0.5
    probability: float | None = None


def parse_fault(text: str) -> Fault:
    """`KIND` or `KIND:N` (the next N requests; `KIND:*` every request) as a scripted fault;
    ValueError names the kinds when `text` is not one."""
    kind, _, times = text.strip().partition(":")
    kinds = get_args(FaultKind)
    if kind not in kinds:
        raise ValueError(f"fault {text!r}: the kind is one of {', '.join(kinds)}")
    if not times:
        return Fault(kind)  # type: ignore[arg-type]
    if times == "*":
        return Fault(kind, times=None)  # type: ignore[arg-type]
    if not times.isdigit() or int(times) < 1:
        raise ValueError(f"fault {text!r}: N is a count of requests (1 or more) or *")
    return Fault(kind, times=int(times))  # type: ignore[arg-type]


@dataclass
class FakeThetaConfig:
    """What the fake serves and how it misbehaves."""

    seed: int = 7
    today: date | None = None
    concurrency: int = 4
    queue: int = 16
    json_layout: Literal["rows", "columns"] = "rows"
    faults: list[Fault] = field(default_factory=list)
    fault_seed: int = 0
    #: Extra processing time per data request, so concurrency and queueing are observable.
    delay: float = 0.0
    #: EOD ranges wider than this many days answer 570 (request too large); the terminal
    #: documents no such cap, so there is none unless a test sets one.
    max_days: int | None = None
    #: The first expiration the list endpoints know (ThetaData's option history starts here).
    history_start: date = date(2012, 6, 1)
    #: Answer 476 when requests arrive under two host names (127.0.0.1 and localhost).
    enforce_host: bool = True
    #: Quote requests that would return more rows than this answer 570 (request too large).
    max_quote_rows: int = 2_000_000
    #: Every n-th contract of a day has no open interest row (a strike listed that day has
    #: none published yet); 0 publishes every contract's.
    no_open_interest_every: int = 0
    #: The fake's wall clock (tz-aware); None is the real clock. A report is served only once
    #: it is built (EOD at 17:15 ET and after, open interest from 06:30 ET): before, and for
    #: any day after `today`, the answer is 472.
    clock: datetime | None = None
    #: False: the account has no index subscription, so every /index endpoint answers 471.
    index_subscription: bool = True
    #: The first day the terminal has index reports (earlier days answer 472); None: no limit.
    index_history_start: date | None = None
    #: Every n-th contract of an EOD report that has a bid is served without an offer (ask 0,
    #: ask size 0), as the terminal sends a one-sided market; 0 serves every quote two-sided.
    no_offer_every: int = 0


def latest_trading_day(before: date | None = None) -> date:
    """The latest Cboe trading day on or before `before` (default today)."""
    day = before or date.today()
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day
