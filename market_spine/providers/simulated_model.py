"""The price model behind the simulated market: one mean-reverting path of daily log levels
per root, and each session's minutes as a Brownian bridge between two levels with a U-shaped
intraday variance and volume profile, rounded to the tick. Pure functions of their inputs, so
every number the simulator serves is reproducible (see `simulated` for how they are combined).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pandas as pd

from market_spine.markets import calendars

#: First day of every level path, and the last date the simulator serves.
EPOCH = date(2000, 1, 3)
LAST_DATE = date(2100, 12, 31)

ET = "America/New_York"
DAYS_PER_YEAR = 365.25
TRADING_DAYS_PER_YEAR = 252
REVERSION_HALF_LIFE_DAYS = 3 * 365.25
WEEKEND_VARIANCE = 0.1


@dataclass(frozen=True)
class PathParams:
    """How one product behaves: volatility, liquidity and its US regular hours (ET)."""

    annual_vol: float
    rth_open: int  # minutes after ET midnight
    rth_close: int
    rth_volume: float  # mean contracts per regular-hours minute
    trade_size: float  # mean contracts per trade
    carry: float = 0.03  # annual log carry: a contract's premium per year to its expiry


_PARAMS: dict[str, PathParams] = {
    "ES": PathParams(0.18, 9 * 60 + 30, 16 * 60, 2500.0, 4.0, carry=0.02),
    "CL": PathParams(0.35, 9 * 60, 14 * 60 + 30, 450.0, 2.5, carry=0.06),
    "NG": PathParams(0.60, 9 * 60, 14 * 60 + 30, 160.0, 2.0, carry=0.20),
}
# Roots the instrument table knows but the simulator was not tuned for behave like a mid product.
DEFAULT_PARAMS = PathParams(0.30, 9 * 60 + 30, 16 * 60, 300.0, 2.0)

SPIKE_FACTOR = 1.08
N_DUPLICATES = 3
N_CROSSED = 3


#: The next contract's share of the front's volume by business days to the calendar roll: it
#: overtakes the front two sessions before the roll, so the volume roll comes a session early.
NEXT_VOLUME_SHARE = {5: 0.35, 4: 0.55, 3: 0.8, 2: 1.25, 1: 1.8}
#: The next contract's share outside the roll window, and any later contract's.
NEXT_SHARE_OUTSIDE, DEFERRED_SHARE = 0.15, 0.03


def params_for(root: str) -> PathParams:
    return _PARAMS.get(root, DEFAULT_PARAMS)


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded from a stable digest of `key` (never `hash()`: it varies by process)."""
    text = "|".join(str(k) for k in key)
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))


@lru_cache(maxsize=64)
def log_level_path(seed: int, root: str, base_price: float, annual_vol: float) -> np.ndarray:
    """Log closing level for every calendar day from EPOCH to LAST_DATE (read-only, cached).

    An AR(1) (discrete Ornstein-Uhlenbeck) walk in log price; the whole century is generated at
    once (~37k days, a few ms), so any date is served in O(1) and call order cannot matter.
    """
    n = (LAST_DATE - EPOCH).days + 1
    theta = math.log(2) / REVERSION_HALF_LIFE_DAYS
    phi = math.exp(-theta)
    # Markets move far less over a weekend than on a weekday: Saturday and Sunday carry a tenth
    # of a weekday's variance, scaled so a year's variance is still annual_vol**2.
    weekend = (np.arange(n) + EPOCH.weekday()) % 7 >= 5
    weight = np.where(weekend, WEEKEND_VARIANCE, 1.0)
    units_per_year = DAYS_PER_YEAR / 7 * (5 + 2 * WEEKEND_VARIANCE)
    sigma = annual_vol * np.sqrt(weight / units_per_year)
    shocks = rng_for(seed, root, "daily-levels").standard_normal(n) * sigma
    shocks[0] = 0.0  # the path starts exactly at the base price
    # x[t] = phi * x[t-1] + shock[t] is linear, so it is vectorised per block with powers of phi;
    # blocks keep phi**-k near 1 (no precision loss), and avoid a Python loop over 37k days.
    dev = np.empty(n)
    block = 256
    powers = phi ** np.arange(block)
    carry = 0.0
    for start in range(0, n, block):
        s = shocks[start : start + block]
        p = powers[: len(s)]
        # Within a block: dev[k] = phi^(k+1) carry + sum_{j<=k} phi^(k-j) s[j]
        acc = np.cumsum(s / p) * p
        dev[start : start + len(s)] = acc + carry * p * phi
        carry = dev[start + len(s) - 1]
    path = math.log(base_price) + dev
    path.flags.writeable = False
    return path


@lru_cache(maxsize=65_536)
def previous_session_date(root: str, trade_date: date) -> date | None:
    """The latest date before `trade_date` with a session, or None if none in the last 3 weeks."""
    d = trade_date
    for _ in range(21):
        d -= timedelta(days=1)
        if calendars.session(root, d) is not None:
            return d
    return None


def tick_decimals(tick: float) -> int:
    """Decimal places of a tick size (0.25 -> 2, 0.001 -> 3), to print prices without float dust."""
    return max(0, -int(Decimal(str(tick)).normalize().as_tuple().exponent))


def round_to_tick(x: np.ndarray, tick: float, decimals: int) -> np.ndarray:
    return np.round(np.rint(x / tick) * tick, decimals)


def intraday_profiles(minute_of_day: np.ndarray, p: PathParams) -> tuple[np.ndarray, np.ndarray]:
    """Intraday (variance weight, volume weight) per ET minute of day: a U over regular hours."""
    m = minute_of_day.astype(np.float64)
    rth = (m >= p.rth_open) & (m < p.rth_close)
    var = np.full_like(m, 0.15)  # Asia overnight
    var[(m >= 3 * 60) & (m < p.rth_open)] = 0.35  # London hours and the US pre-open
    var[(m >= 8 * 60 + 30) & (m < p.rth_open)] = 0.6  # 08:30 ET economic releases
    var[m >= p.rth_close] = 0.3  # after the US close, until the session ends
    since_open = np.clip(m - p.rth_open, 0, None)
    to_close = np.clip(p.rth_close - 1 - m, 0, None)
    var[rth] = (1.0 + 2.5 * np.exp(-since_open / 25.0) + 1.0 * np.exp(-to_close / 20.0))[rth]
    return var, var**1.4


def log_ohlc(
    start: float,
    end: float,
    s2: np.ndarray,
    z: np.ndarray,
    u_high: np.ndarray,
    u_low: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-minute log open/high/low/close of a bridge from `start` to `end` (minute variances s2).

    The bridge runs on a variance clock, so busy minutes move more; it ends exactly at `end`, so a
    session closes at its daily level. High/low use the exact law of a Brownian bridge's extremes.
    """
    walk = np.cumsum(np.sqrt(s2) * z)
    elapsed = np.cumsum(s2)
    elapsed /= elapsed[-1]
    close = start + (end - start) * elapsed + walk - elapsed * walk[-1]
    close[-1] = end
    open_ = np.concatenate(([start], close[:-1]))
    mid, gap2 = 0.5 * (open_ + close), (close - open_) ** 2
    high = mid + 0.5 * np.sqrt(gap2 - 2.0 * s2 * np.log(u_high))
    low = mid - 0.5 * np.sqrt(gap2 - 2.0 * s2 * np.log(u_low))
    return open_, high, low, close


def iso_timestamps(ts_ns: np.ndarray) -> list[str]:
    return [pd.Timestamp(int(t), tz="UTC").isoformat() for t in ts_ns]
