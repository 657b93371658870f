"""5-second bars → 1-minute bars, emitted as soon as a minute is known to be complete.

A minute closes when all twelve of its 5-second bars arrived, when a bar of a later minute
arrives for the symbol, or when the clock is `grace` past its end. TWS sends a bar every five
seconds, traded or not, so a minute closed with fewer than twelve is marked `complete: False`
(the stream joined or dropped mid-minute) and must come from history instead. The 1-minute bar
is the usual aggregate: first open, max high, min low, last close, summed volume and trade
count, volume-weighted wap.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

SUB_BARS = 12
MINUTE = timedelta(minutes=1)


def minute_of(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


def aggregate(bars: list[dict[str, Any]]) -> dict[str, Any]:
    """One 1-minute bar (platform columns) from a minute's 5-second bars (any order)."""
    bars = sorted(bars, key=lambda b: b["ts"])
    volume = sum(int(b["volume"]) for b in bars)
    weighted = sum(float(b["wap"]) * int(b["volume"]) for b in bars)
    return {
        "ts": minute_of(bars[0]["ts"]),
        "symbol": bars[0]["symbol"],
        "contract": bars[-1]["contract"],
        "open": bars[0]["open"],
        "high": max(b["high"] for b in bars),
        "low": min(b["low"] for b in bars),
        "close": bars[-1]["close"],
        "volume": volume,
        "vwap": weighted / volume if volume else bars[-1]["close"],
        "trades": sum(int(b["count"]) for b in bars),
        "complete": len(bars) >= SUB_BARS,
    }


class MinuteAggregator:
    """Collects 5-second bars per (symbol, minute) and hands back the minutes that closed."""

    def __init__(self, grace: timedelta = timedelta(seconds=10)) -> None:
        self.grace = grace
        self._open: dict[tuple[str, datetime], dict[datetime, dict[str, Any]]] = defaultdict(dict)
        self._latest: dict[str, datetime] = {}

    def add(self, bar: dict[str, Any]) -> None:
        """Take one 5-second bar (a repeat of the same bar replaces it: no double counting)."""
        minute = minute_of(bar["ts"])
        self._open[(bar["symbol"], minute)][bar["ts"]] = bar
        if bar["ts"] > self._latest.get(bar["symbol"], bar["ts"] - MINUTE):
            self._latest[bar["symbol"]] = bar["ts"]

    def closed(self, now: datetime) -> list[dict[str, Any]]:
        """The minutes complete by `now`, aggregated, oldest first; they are forgotten."""
        done = []
        for (symbol, minute), bars in list(self._open.items()):
            later = minute_of(self._latest[symbol]) > minute
            if len(bars) >= SUB_BARS or later or now >= minute + MINUTE + self.grace:
                done.append(aggregate(list(bars.values())))
                del self._open[(symbol, minute)]
        return sorted(done, key=lambda b: (b["ts"], b["symbol"]))
