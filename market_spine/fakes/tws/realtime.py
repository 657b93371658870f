"""Real-time 5-second bars and the fake's market clock.

Each 5-second bar is cut from the simulated 1-minute bar containing it: twelve sub-bars walk a
seeded bridge from the minute's open to its close inside its [low, high], one touches the high
and one the low, and volume and trade count are split across them. So aggregating a minute's
twelve 5-second bars gives back exactly the 1-minute bar's open, high, low, close, volume and
count: a streamer that backfills from history sees the same market it streamed.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import numpy as np

from market_spine.fakes.tws.history import HistorySource
from market_spine.markets import instruments

SUB_BARS = 12  # 5-second bars per minute
BAR_SECONDS = 5

RtRow = tuple[int, float, float, float, float, int, float, int]


class MarketClock:
    """Market time: `start` (default: now) at creation, advancing `speed` market seconds per
    wall second, so tests can see a minute of 5-second bars in well under a second."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._wall0 = time.monotonic()
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self.speed = speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._wall0) * self.speed)

    def wall_seconds(self, market_seconds: float) -> float:
        """Wall-clock seconds that `market_seconds` of market time take."""
        return market_seconds / self.speed


def _rng(*key: object) -> np.random.Generator:
    digest = hashlib.blake2b("|".join(map(str, key)).encode(), digest_size=16).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))


def _decimals(tick: float) -> int:
    return max(0, -int(Decimal(str(tick)).normalize().as_tuple().exponent))


def split_minute(seed: int, root: str, row: tuple, tick: float) -> list[RtRow]:
    """The twelve 5-second bars of one 1-minute bar `row` (epoch_s, o, h, l, c, v, vwap, n)."""
    t0, o, h, lo, c, v, vwap, n = row
    rng = _rng(seed, root, t0, "rt")
    dec = _decimals(tick)
    steps = rng.standard_normal(SUB_BARS) * max(h - lo, tick) / 4
    walk = np.cumsum(steps)
    frac = np.arange(1, SUB_BARS + 1) / SUB_BARS
    path = o + (c - o) * frac + walk - frac * walk[-1]
    path = np.clip(np.round(np.rint(path / tick) * tick, dec), lo, h)
    path[-1] = c
    opens = np.concatenate(([o], path[:-1]))
    highs = np.maximum(opens, path)
    lows = np.minimum(opens, path)
    highs[int(rng.integers(SUB_BARS))] = h
    lows[int(rng.integers(SUB_BARS))] = lo
    weights = rng.dirichlet(np.full(SUB_BARS, 2.0))
    vols = rng.multinomial(int(v), weights)
    share = vols / vols.sum() if vols.sum() else weights
    counts = rng.multinomial(int(n), share)
    waps = np.round(np.clip(vwap, lows, highs), dec + 2)
    return [
        (
            int(t0) + BAR_SECONDS * k,
            float(opens[k]),
            float(highs[k]),
            float(lows[k]),
            float(path[k]),
            int(vols[k]),
            float(waps[k]),
            int(counts[k]),
        )
        for k in range(SUB_BARS)
    ]


class RealtimeSource:
    """5-second bars by bar start time; None where the minute has no simulated bar."""

    def __init__(self, history: HistorySource, seed: int) -> None:
        self.history = history
        self.seed = seed
        self._minute = lru_cache(maxsize=1024)(self._minute_bars)

    def _minute_bars(self, root: str, minute_epoch: int) -> list[RtRow] | None:
        minute = datetime.fromtimestamp(minute_epoch, UTC)
        row = self.history.minute_bar(root, minute)
        if row is None:
            return None
        tick = float(instruments.get_instrument(root).tick_size)
        return split_minute(self.seed, root, row, tick)

    def bar(self, root: str, start_epoch: int) -> RtRow | None:
        minute = start_epoch - start_epoch % 60
        bars = self._minute(root, minute)
        return None if bars is None else bars[(start_epoch - minute) // BAR_SECONDS]
