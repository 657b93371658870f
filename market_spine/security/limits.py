"""Per-identity limits: a token bucket of requests and a count of WebSocket subscribers.

A small in-process token bucket rather than the `limits` package: one API process serves a home,
so a dict of two floats per actor under a lock is all the state there is, with no storage layer
behind it (`bench/auth_overhead.py` prints its cost per request beside the key cache's).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter


class RateLimiter:
    """`rate` requests a second per actor, in bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # actor -> (tokens, at)

    def take(self, actor: str, now: float | None = None) -> float:
        """Spend one request of `actor`: 0.0 when allowed, else the seconds until one is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get(actor, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[actor] = (tokens - 1.0, now)
                return 0.0
            self._buckets[actor] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def waiting(self, actor: str, now: float | None = None) -> float:
        """The seconds until `actor` may spend a request (0.0: now), spending nothing."""
        now = time.monotonic() if now is None else now
        with self._lock:
            found = self._buckets.get(actor)
        if found is None:
            return 0.0
        tokens = min(self.burst, found[0] + (now - found[1]) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate


def retry_after(wait_s: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))


class SubscriberCount:
    """WebSocket subscribers per actor, at most `cap` each."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self._count: Counter[str] = Counter()

    def enter(self, actor: str) -> bool:
        """Count one more subscriber of `actor`; False (and nothing counted) at the cap."""
        with self._lock:
            if self._count[actor] >= self.cap:
                return False
            self._count[actor] += 1
            return True

    def leave(self, actor: str) -> None:
        """Count one subscriber of `actor` less."""
        with self._lock:
            self._count[actor] -= 1
            if self._count[actor] <= 0:
                del self._count[actor]
