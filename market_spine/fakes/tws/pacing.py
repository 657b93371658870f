"""TWS's historical-data pacing rules, enforced by the fake as TWS does (error 162).

A request violates pacing when it repeats an identical request within `identical_s`, is the
(`contract_max` + 1)-th for one contract/exchange/whatToShow within `contract_window_s`, is the
(`window_max` + 1)-th within `window_s`, or would open more than `max_open` requests. Rejected
requests are not recorded; time is the monotonic clock when the frame is read.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class PacingLimits:
    """The windows (seconds) and counts; `scaled` shrinks the windows for fast tests."""

    identical_s: float = 15.0
    contract_window_s: float = 2.0
    contract_max: int = 5
    window_s: float = 600.0
    window_max: int = 60
    max_open: int = 50

    def scaled(self, factor: float) -> PacingLimits:
        """The same limits with every window multiplied by `factor`."""
        return replace(
            self,
            identical_s=self.identical_s * factor,
            contract_window_s=self.contract_window_s * factor,
            window_s=self.window_s * factor,
        )


class PacingGate:
    """Sliding-window bookkeeping of accepted historical requests."""

    def __init__(self, limits: PacingLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._all: deque[float] = deque()
        self._by_contract: dict[Hashable, deque[float]] = {}
        self._identical: dict[Hashable, float] = {}
        self.open = 0
        self.max_open_seen = 0

    def admit(self, identical: Hashable, contract: Hashable, at: float | None = None) -> str | None:
        """None and record the request if it is within pacing, else the violated rule's name."""
        lim = self.limits
        now = self.clock() if at is None else at
        _expire(self._all, now - lim.window_s)
        per = self._by_contract.setdefault(contract, deque())
        _expire(per, now - lim.contract_window_s)
        last = self._identical.get(identical)
        if last is not None and now - last < lim.identical_s:
            return "identical"
        if len(per) >= lim.contract_max:
            return "contract"
        if len(self._all) >= lim.window_max:
            return "window"
        if self.open >= lim.max_open:
            return "open"
        self._all.append(now)
        per.append(now)
        self._identical[identical] = now
        self.open += 1
        self.max_open_seen = max(self.max_open_seen, self.open)
        return None

    def close(self) -> None:
        """An admitted request finished (answered, failed, cancelled or its socket closed)."""
        self.open = max(0, self.open - 1)


def _expire(times: deque[float], horizon: float) -> None:
    while times and times[0] <= horizon:
        times.popleft()
