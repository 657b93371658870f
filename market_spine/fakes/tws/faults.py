"""Scripted faults of the fake TWS: which request they hit and what goes wrong.

Kinds (the TWS behaviour each one imitates):

- ``no_data``: error 162 "HMDS query returned no data" (a holiday, an illiquid contract).
- ``unknown_contract``: error 200 "No security definition has been found for the request".
- ``not_subscribed``: error 354 "Requested market data is not subscribed".
- ``pacing``: error 162 "Historical data request pacing violation" without a real violation.
- ``drop``: the socket closes after part of the reply's bytes were sent (TWS restart, crash).
- ``slow``: the reply comes `seconds` late (a busy HMDS farm); the request stays open meanwhile.
- ``connectivity``: unsolicited 1100 "connectivity lost", then after `seconds` the `restore`
  code: 1102 (data maintained: the pending request is answered) or 1101 (data lost: it never is,
  and the connection's real-time subscriptions are dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal[
    "no_data", "unknown_contract", "not_subscribed", "pacing", "drop", "slow", "connectivity"
]
RequestKind = Literal["historical", "contract_details", "realtime"]

NO_DATA_TEXT = "Historical Market Data Service error message:HMDS query returned no data: {what}"
PACING_TEXT = (
    "Historical Market Data Service error message:Historical data request pacing violation"
)
UNKNOWN_TEXT = "No security definition has been found for the request"
NOT_SUBSCRIBED_TEXT = (
    "Requested market data is not subscribed. Check API status by selecting the Account menu "
    "then under Management choose Market Data Subscription Manager and/or Market Data "
    "Subscriptions.{what}"
)
CONNECTIVITY_TEXT = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
}


@dataclass
class Fault:
    """One scripted fault: it hits matching requests number `after` + 1 to `after` + `times`.

    `match` is compared (case-insensitively) with the request's symbol, local symbol and
    contract month; None matches every contract. `times=None` hits every later match.
    """

    kind: FaultKind
    request: RequestKind = "historical"
    match: str | None = None
    after: int = 0
    times: int | None = 1
    seconds: float = 0.5
    restore: Literal[1101, 1102] = 1102
    fraction: float = 0.5
    seen: int = field(default=0, init=False, repr=False)
    hits: int = field(default=0, init=False, repr=False)

    def matches(self, request: RequestKind, names: tuple[str, ...]) -> bool:
        if request != self.request:
            return False
        return self.match is None or self.match.upper() in {n.upper() for n in names if n}

    def take(self) -> bool:
        """Count one matching request; True if this one is hit."""
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


class FaultScript:
    """The configured faults, consulted once per request (the first one that fires wins)."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = faults

    def pick(self, request: RequestKind, names: tuple[str, ...]) -> Fault | None:
        for fault in self.faults:
            if fault.matches(request, names) and fault.take():
                return fault
        return None
