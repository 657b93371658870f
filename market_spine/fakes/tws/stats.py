"""Counters of the fake TWS, safe to read from another thread while it serves."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    """Requests by type, pacing violations by rule, faults fired, connections, bars sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.pacing_violations: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.connections = 0
        self.active_connections = 0
        self.historical_bars = 0
        self.realtime_bars = 0
        self.max_open_historical = 0

    def count(self, counter: str, key: str, n: int = 1) -> None:
        with self._lock:
            getattr(self, counter)[key] += n

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def peak_open(self, value: int) -> None:
        with self._lock:
            self.max_open_historical = max(self.max_open_historical, value)

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every counter."""
        with self._lock:
            return {
                "requests": dict(self.requests),
                "pacing_violations": sum(self.pacing_violations.values()),
                "pacing_violations_by_rule": dict(self.pacing_violations),
                "faults": dict(self.faults),
                "connections": self.connections,
                "active_connections": self.active_connections,
                "historical_bars": self.historical_bars,
                "realtime_bars": self.realtime_bars,
                "max_open_historical": self.max_open_historical,
            }
