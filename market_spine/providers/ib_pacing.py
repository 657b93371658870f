"""Client-side pacing of IB historical-data requests: stay inside every TWS rule on our own.

TWS answers error 162 "pacing violation" to: an identical request within 15 s, a 6th request for
one contract/exchange/whatToShow within 2 s, a 61st request within 10 minutes, or a 51st open
request. `HistoricalPacer` delays each request until all four rules allow it, so a backfill never
sees a 162 (and never has to rely on one). Windows are configurable (and `scaled`) so tests and
benchmarks against the fake TWS can shrink them consistently with the fake's.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from market_spine.observability.metrics import count_pacing_wait


@dataclass(frozen=True)
class PacingRules:
    """TWS's historical pacing windows (seconds) and counts, plus a safety `margin_s`.

    The margin absorbs the gap between when we record a request and when TWS stamps it (socket
    latency, a busy loop on either side); it is absolute, not scaled.
    """

    identical_s: float = 15.0
    contract_window_s: float = 2.0
    contract_max: int = 5
    window_s: float = 600.0
    window_max: int = 60
    max_open: int = 50
    margin_s: float = 0.25

    def scaled(self, factor: float) -> PacingRules:
        """The same rules with every window multiplied by `factor` (counts unchanged)."""
        return replace(
            self,
            identical_s=self.identical_s * factor,
            contract_window_s=self.contract_window_s * factor,
            window_s=self.window_s * factor,
        )

    def minimum_seconds(self, n_requests: int, per_contract: dict[Hashable, int]) -> float:
        """The least wall time `n_requests` can take under these rules (responses instant)."""
        total = (max(n_requests - 1, 0) // self.window_max) * self.window_s
        for n in per_contract.values():
            total = max(total, (max(n - 1, 0) // self.contract_max) * self.contract_window_s)
        return total


class HistoricalPacer:
    """Admits historical requests one at a time, each as soon as every rule allows it.

    Use `async with pacer.slot(identical_key, contract_key):` and send the request first thing
    inside the block (no await before the send): the slot is recorded at admission and counts
    as open until the block exits (response received or request failed).
    """

    def __init__(self, rules: PacingRules, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self.clock = clock
        self._open = asyncio.Semaphore(rules.max_open)
        self._lock = asyncio.Lock()
        self._all: deque[float] = deque()
        self._by_contract: dict[Hashable, deque[float]] = {}
        self._identical: dict[Hashable, float] = {}
        self.admitted = 0
        self.waited_s = 0.0

    def _delay(self, identical: Hashable, contract: Hashable, now: float) -> float:
        """Seconds until a request with these keys is within every rule (<= 0: now)."""
        r = self.rules
        waits = [0.0]
        last = self._identical.get(identical)
        if last is not None:
            waits.append(last + r.identical_s + r.margin_s - now)
        per = self._by_contract.get(contract)
        if per is not None and len(per) >= r.contract_max:
            waits.append(per[-r.contract_max] + r.contract_window_s + r.margin_s - now)
        if len(self._all) >= r.window_max:
            waits.append(self._all[-r.window_max] + r.window_s + r.margin_s - now)
        return max(waits)

    def _record(self, identical: Hashable, contract: Hashable, now: float) -> None:
        r = self.rules
        self._all.append(now)
        while len(self._all) > r.window_max:
            self._all.popleft()
        per = self._by_contract.setdefault(contract, deque())
        per.append(now)
        while len(per) > r.contract_max:
            per.popleft()
        self._identical[identical] = now
        if len(self._identical) > 4096:  # forget identical keys older than their window
            horizon = now - r.identical_s - r.margin_s
            self._identical = {k: t for k, t in self._identical.items() if t > horizon}
        self.admitted += 1

    @asynccontextmanager
    async def slot(self, identical: Hashable, contract: Hashable) -> AsyncIterator[None]:
        """Wait until the request is allowed, record it, and hold an open-request slot."""
        async with self._open:
            async with self._lock:
                start = self.clock()
                held = False
                while (delay := self._delay(identical, contract, self.clock())) > 0:
                    held = True
                    await asyncio.sleep(delay)
                now = self.clock()
                self._record(identical, contract, now)
                self.waited_s += now - start
                if held:
                    count_pacing_wait("ib", now - start)
            yield
