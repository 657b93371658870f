"""A deterministic, calendar-aware simulated futures market: the platform's embedded default source.

Every number is a pure function of ``(seed, symbol, trade_date)``, so a fresh checkout on any
machine sees the same market with no account and no network, and captures are reproducible.

How it is built:

- **Daily levels.** Each root has one path of log closing levels, one value per calendar day from
  ``EPOCH`` to ``LAST_DATE``: a weakly mean-reverting random walk (half-life ~3 years) around the
  instrument's ``base_price`` with the product's annual volatility. Mean reversion keeps a
  century-long path at plausible prices; over days and months it is a plain random walk.
- **Sessions.** A session opens at the previous session's closing level and ends at its own level,
  joined by a Brownian bridge over the session's expected bar minutes (``Session.expected_minutes``,
  so no bars outside the session, in its breaks, or on holidays). Intraday variance follows a
  U-shaped profile around the product's US regular hours (09:30-16:00 ET for equity index,
  09:00-14:30 ET pit hours for energy); volume follows the same profile, more steeply.
- **Bars.** A bar's open/close are consecutive bridge points, its high/low are drawn from the exact
  distribution of a Brownian bridge's extremes, then everything is rounded to the tick size.
- **No-trade minutes.** In thin hours a minute has a small product-specific chance of no trade and
  so no bar (``no_trade_minutes`` tells which), as in real data; the session's first and last
  minute always trade so its opening and closing levels are visible.
- **Live sessions.** Only bars whose minute has closed by ``clock()`` are returned; a preliminary
  capture is therefore always a prefix of the final one.
- **Defects** (opt-in, for testing checks) are injected from their own random streams, so the clean
  bars are identical with or without them.

A date without a session (weekend, holiday) yields an empty frame with ``BAR_SCHEMA``, not an error:
"no bars" is a legitimate answer, as ThetaData's 472 "no data" is.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from market_spine.errors import InvalidDate, InvalidInput
from market_spine.markets import calendars, instruments
from market_spine.markets.dates import MINUTE_NS
from market_spine.providers.base import BAR_SCHEMA, BarCapture

#: Defects that can be injected into the simulated bars.
DEFECTS = frozenset({"gaps", "spikes", "duplicates", "crossed"})

#: First day of every level path, and the last date the simulator serves.
EPOCH = date(2000, 1, 3)
LAST_DATE = date(2100, 12, 31)

_ET = "America/New_York"
_DAYS_PER_YEAR = 365.25
_TRADING_DAYS_PER_YEAR = 252
_REVERSION_HALF_LIFE_DAYS = 3 * 365.25
_WEEKEND_VARIANCE = 0.1


@dataclass(frozen=True)
class _Params:
    """How one product behaves: volatility, liquidity and its US regular hours (ET)."""

    annual_vol: float
    rth_open: int  # minutes after ET midnight
    rth_close: int
    rth_volume: float  # mean contracts per regular-hours minute
    trade_size: float  # mean contracts per trade


_PARAMS: dict[str, _Params] = {
    "ES": _Params(0.18, 9 * 60 + 30, 16 * 60, 2500.0, 4.0),
    "CL": _Params(0.35, 9 * 60, 14 * 60 + 30, 450.0, 2.5),
    "NG": _Params(0.60, 9 * 60, 14 * 60 + 30, 160.0, 2.0),
}
# Roots the instrument table knows but the simulator was not tuned for behave like a mid product.
_DEFAULT_PARAMS = _Params(0.30, 9 * 60 + 30, 16 * 60, 300.0, 2.0)

_SPIKE_FACTOR = 1.08
_N_DUPLICATES = 3
_N_CROSSED = 3


def _params(root: str) -> _Params:
    return _PARAMS.get(root, _DEFAULT_PARAMS)


def _rng(*key: object) -> np.random.Generator:
    """A generator seeded from a stable digest of `key` (never `hash()`: it varies by process)."""
    text = "|".join(str(k) for k in key)
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))


@lru_cache(maxsize=64)
def _log_level_path(seed: int, root: str, base_price: float, annual_vol: float) -> np.ndarray:
    """Log closing level for every calendar day from EPOCH to LAST_DATE (read-only, cached).

    An AR(1) (discrete Ornstein-Uhlenbeck) walk in log price; the whole century is generated at
    once (~37k days, a few ms), so any date is served in O(1) and call order cannot matter.
    """
    n = (LAST_DATE - EPOCH).days + 1
    theta = math.log(2) / _REVERSION_HALF_LIFE_DAYS
    phi = math.exp(-theta)
    # Markets move far less over a weekend than on a weekday: Saturday and Sunday carry a tenth
    # of a weekday's variance, scaled so a year's variance is still annual_vol**2.
    weekend = (np.arange(n) + EPOCH.weekday()) % 7 >= 5
    weight = np.where(weekend, _WEEKEND_VARIANCE, 1.0)
    units_per_year = _DAYS_PER_YEAR / 7 * (5 + 2 * _WEEKEND_VARIANCE)
    sigma = annual_vol * np.sqrt(weight / units_per_year)
    shocks = _rng(seed, root, "daily-levels").standard_normal(n) * sigma
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
def _previous_session_date(root: str, trade_date: date) -> date | None:
    """The latest date before `trade_date` with a session, or None if none in the last 3 weeks."""
    d = trade_date
    for _ in range(21):
        d -= timedelta(days=1)
        if calendars.session(root, d) is not None:
            return d
    return None


def _decimals(tick: float) -> int:
    """Decimal places of a tick size (0.25 -> 2, 0.001 -> 3), to print prices without float dust."""
    return max(0, -int(Decimal(str(tick)).normalize().as_tuple().exponent))


def _round_to_tick(x: np.ndarray, tick: float, decimals: int) -> np.ndarray:
    return np.round(np.rint(x / tick) * tick, decimals)


def _profiles(minute_of_day: np.ndarray, p: _Params) -> tuple[np.ndarray, np.ndarray]:
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


def _log_ohlc(
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


def _iso(ts_ns: np.ndarray) -> list[str]:
    return [pd.Timestamp(int(t), tz="UTC").isoformat() for t in ts_ns]


@dataclass(frozen=True)
class _Session:
    """One full session, before the clock cutoff: columns as numpy arrays plus the defects log."""

    columns: dict[str, np.ndarray]
    contract: str
    injected: dict[str, list[str]]
    no_trade_ns: np.ndarray


class SimulatedMarket:
    """A reproducible futures market: 1-minute bars and daily levels for any root and trade date.

    `defects` (a subset of DEFECTS) injects known problems so data-quality checks can be tested;
    `clock` (default: now, UTC) decides which bars of a live session exist yet.
    """

    def __init__(
        self,
        seed: int = 7,
        defects: Iterable[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        chosen = frozenset(defects)
        unknown = chosen - DEFECTS
        if unknown:
            raise InvalidInput(
                f"unknown defect(s) {sorted(unknown)}; valid defects are {sorted(DEFECTS)}"
            )
        self.seed = int(seed)
        self.defects = chosen
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    # -- public API ------------------------------------------------------------------------------

    def bars(self, symbol: str, trade_date: date) -> pl.DataFrame:
        """Bars of `symbol`'s session `trade_date` up to now, in BAR_SCHEMA, sorted by `ts`.

        Empty (with the schema) on a date without a session or before the session opens.
        """
        return self.simulate(symbol, trade_date)[0]

    def simulate(self, symbol: str, trade_date: date) -> tuple[pl.DataFrame, dict[str, list[str]]]:
        """The bars (as `bars`) and the defects injected into them: {defect: [bar ts, ISO UTC]}."""
        inst = instruments.get_instrument(symbol)
        trade_date = _check_date(trade_date)
        sess = self._session(inst, trade_date)
        if sess is None:
            return pl.DataFrame(schema=BAR_SCHEMA), {}
        cols = sess.columns
        cutoff_ns = _to_ns(self.clock()) - MINUTE_NS
        keep = cols["ts"] <= cutoff_ns  # a bar exists once its minute has closed
        frame = _frame(cols, keep, inst.root, sess.contract)
        injected = {
            name: [t for t in stamps if pd.Timestamp(t).value <= cutoff_ns]
            for name, stamps in sess.injected.items()
        }
        return frame, injected

    def daily_level(self, symbol: str, trade_date: date) -> float:
        """The closing level of the session `trade_date` (tick-rounded; equals its last close).

        Raises NotATradingDay for a date without a session.
        """
        inst = instruments.get_instrument(symbol)
        trade_date = _check_date(trade_date)
        calendars.require_session(inst.root, trade_date)
        tick = float(inst.tick_size)
        level = math.exp(self._log_level(inst, trade_date))
        return float(_round_to_tick(np.array([level]), tick, _decimals(tick))[0])

    def no_trade_minutes(self, symbol: str, trade_date: date) -> pd.DatetimeIndex:
        """Expected minutes of the full session that have no bar because nothing traded (UTC).

        A completeness check must not count these as missing data; independent of the clock and
        of injected defects.
        """
        inst = instruments.get_instrument(symbol)
        sess = self._session(inst, _check_date(trade_date))
        ns = sess.no_trade_ns if sess is not None else np.empty(0, dtype=np.int64)
        return pd.DatetimeIndex(ns.astype("datetime64[ns]"), name="ts").tz_localize("UTC")

    # -- simulation ------------------------------------------------------------------------------

    def _log_level(self, inst: instruments.Instrument, d: date) -> float:
        p = _params(inst.root)
        path = _log_level_path(self.seed, inst.root, float(inst.base_price), p.annual_vol)
        return float(path[max(0, (d - EPOCH).days)])

    def _session(self, inst: instruments.Instrument, trade_date: date) -> _Session | None:
        """Simulate the full session (clean bars, then defects); None if there is no session."""
        root = inst.root
        sess = calendars.session(root, trade_date)
        if sess is None:
            return None
        minutes = pd.DatetimeIndex(sess.expected_minutes())
        if len(minutes) == 0:
            return None
        ts = minutes.as_unit("ns").asi8
        et = minutes.tz_convert(_ET)
        minute_of_day = np.asarray(et.hour * 60 + et.minute, dtype=np.int64)

        p = _params(root)
        tick = float(inst.tick_size)
        dec = _decimals(tick)
        prev = _previous_session_date(root, trade_date)
        start = self._log_level(inst, prev if prev is not None else trade_date - timedelta(days=1))
        end = self._log_level(inst, trade_date)

        n = len(ts)
        rng = _rng(self.seed, root, trade_date.isoformat(), "session")
        z, vol_noise, size_noise = rng.standard_normal((3, n))
        # The third uniform stream is drawn (and unused) so the other streams keep their values.
        u_high, u_low, _ = 1.0 - rng.random((3, n))  # in (0, 1], safe for log
        vwap_w = rng.dirichlet(np.ones(4), n)

        var_w, vol_w = _profiles(minute_of_day, p)
        s2 = var_w / var_w.sum() * (p.annual_vol**2 / _TRADING_DAYS_PER_YEAR)  # per minute
        open_l, high_l, low_l, close_l = _log_ohlc(start, end, s2, z, u_high, u_low)
        o, h, lo, c = (
            _round_to_tick(np.exp(x), tick, dec) for x in (open_l, high_l, low_l, close_l)
        )
        h = np.maximum(h, np.maximum(o, c))
        lo = np.minimum(lo, np.minimum(o, c))
        vwap = np.round(
            vwap_w[:, 0] * o + vwap_w[:, 1] * h + vwap_w[:, 2] * lo + vwap_w[:, 3] * c, dec + 4
        )
        vwap = np.clip(vwap, lo, h)
        # Trades arrive as a Poisson process whose rate follows the volume profile (lognormal
        # noise with mean one keeps rth_volume the regular-hours average); a minute whose draw
        # is zero has no trade and so no bar, which is what the completeness check models.
        rate = p.rth_volume * vol_w * np.exp(0.5 * vol_noise - 0.125) / p.trade_size
        trades = _rng(self.seed, root, trade_date.isoformat(), "trades").poisson(rate)
        no_trade = trades == 0
        no_trade[0] = no_trade[-1] = False  # the session's open and close levels always print
        trades = np.maximum(trades, 1)
        size = p.trade_size * np.exp(0.3 * size_noise)
        volume = np.maximum(trades, np.rint(trades * size)).astype(np.int64)
        traded = ~no_trade
        cols = {
            "ts": ts[traded],
            "open": o[traded],
            "high": h[traded],
            "low": lo[traded],
            "close": c[traded],
            "volume": volume[traded],
            "vwap": vwap[traded],
            "trades": trades[traded],
        }
        liquid = ((minute_of_day >= p.rth_open - 60) & (minute_of_day < p.rth_close))[traded]
        cols, injected = self._inject(cols, liquid, root, trade_date, tick, dec)
        contract = instruments.front_contract(root, trade_date).local_symbol
        return _Session(cols, contract, injected, ts[no_trade])

    def _inject(
        self,
        cols: dict[str, np.ndarray],
        liquid: np.ndarray,
        root: str,
        trade_date: date,
        tick: float,
        dec: int,
    ) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
        """Apply the enabled defects, each from its own random stream, and say where they went."""
        injected: dict[str, list[str]] = {}
        n = len(cols["ts"])
        if not self.defects or n < 64:
            return cols, injected
        key = (self.seed, root, trade_date.isoformat(), "defect")
        # Rows other defects may touch: not the first/last bar, and not one already defective.
        free = np.ones(n, dtype=bool)
        free[[0, -1]] = False
        drop = np.zeros(n, dtype=bool)

        if "gaps" in self.defects:
            length = int(_rng(*key, "gaps-length").integers(15, 31))
            # A block of consecutive liquid-hours bars (start and end both inside liquid hours).
            starts = np.flatnonzero(liquid[: n - length] & liquid[length - 1 : n - 1])
            starts = starts[starts > 0]
            if len(starts):
                first = int(_rng(*key, "gaps").choice(starts))
                drop[first : first + length] = True
                free[max(0, first - 1) : first + length + 1] = False
                injected["gaps"] = _iso(cols["ts"][first : first + length])

        if "spikes" in self.defects:
            # The spiked bar and the next one (which returns to normal) must both survive.
            ok = np.flatnonzero(free[:-1] & free[1:])
            if len(ok):
                k = int(_rng(*key, "spikes").choice(ok))
                for col in ("high", "close"):
                    cols[col] = cols[col].copy()
                    spiked = np.array([cols[col][k] * _SPIKE_FACTOR])
                    cols[col][k] = _round_to_tick(spiked, tick, dec)[0]
                free[max(0, k - 1) : k + 2] = False
                injected["spikes"] = _iso(cols["ts"][[k]])

        if "crossed" in self.defects:
            rows = np.sort(_rng(*key, "crossed").choice(np.flatnonzero(free), _N_CROSSED, False))
            high, low = cols["high"].copy(), cols["low"].copy()
            # Swap, and where the bar had no range open a one-tick cross so high < low always.
            high[rows], low[rows] = low[rows], np.maximum(high[rows], low[rows] + tick)
            cols["high"], cols["low"] = high, np.round(low, dec)
            free[rows] = False
            injected["crossed"] = _iso(cols["ts"][rows])

        order = np.flatnonzero(~drop)
        if "duplicates" in self.defects:
            rows = np.sort(
                _rng(*key, "duplicates").choice(np.flatnonzero(free), _N_DUPLICATES, False)
            )
            # Stable sort keeps each duplicate right after its original, like a double delivery.
            order = np.sort(np.concatenate((order, rows)), kind="stable")
            injected["duplicates"] = _iso(cols["ts"][rows])
        return {name: values[order] for name, values in cols.items()}, injected


class SimulatedProvider:
    """The `simulated` BarProvider: captures from a SimulatedMarket, shaped like a real source's."""

    name = "simulated"

    def __init__(self, market: SimulatedMarket | None = None) -> None:
        self.market = market or SimulatedMarket()

    def fetch_bars(self, symbol: str, trade_date: date) -> BarCapture:
        """One session's bars up to now; an empty capture on a date without a session."""
        bars, injected = self.market.simulate(symbol, trade_date)
        root = instruments.get_instrument(symbol).root
        request: dict[str, Any] = {
            "symbol": root,
            "trade_date": trade_date.isoformat(),
            "contract": instruments.front_contract(root, trade_date).local_symbol,
            "bar_size": "1 min",
            "what": "TRADES",
            "seed": self.market.seed,
            "defects": sorted(self.market.defects),
        }
        notes: dict[str, Any] = {"defects": injected} if self.market.defects else {}
        payload = bars.write_csv().encode()
        return BarCapture(self.name, request, payload, bars, notes)


def _check_date(trade_date: date) -> date:
    if isinstance(trade_date, datetime) or not isinstance(trade_date, date):
        raise InvalidDate(f"trade_date must be a datetime.date, got {trade_date!r}")
    if not EPOCH <= trade_date <= LAST_DATE:
        raise InvalidDate(f"trade_date {trade_date} is outside the simulated {EPOCH}..{LAST_DATE}")
    return trade_date


def _to_ns(now: datetime) -> int:
    """Nanoseconds since the Unix epoch; a naive clock value is taken as UTC."""
    ts = pd.Timestamp(now)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).value


def _frame(cols: dict[str, np.ndarray], keep: np.ndarray, root: str, contract: str) -> pl.DataFrame:
    n = int(keep.sum())
    return pl.DataFrame(
        {
            "ts": pl.Series(cols["ts"][keep]).cast(BAR_SCHEMA["ts"]),
            "symbol": pl.Series([root], dtype=pl.String).new_from_index(0, n),
            "contract": pl.Series([contract], dtype=pl.String).new_from_index(0, n),
            **{name: cols[name][keep] for name in ("open", "high", "low", "close", "volume")},
            "vwap": cols["vwap"][keep],
            "trades": cols["trades"][keep],
        },
        schema=BAR_SCHEMA,
    )
