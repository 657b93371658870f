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
- **Contracts.** Every listed contract trades at the root's level times a carry premium,
  ``exp(carry × years to its last trade date)``, so a contract's prices are its own whichever
  month is front, and the front series gaps at a roll by the spread between the two months. A
  contract other than the front trades the front's minutes with a share of its volume: the next
  contract's share grows through the roll window (``NEXT_VOLUME_SHARE``) and overtakes the front
  two sessions before the calendar roll; later months trade thinly.
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

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from market_spine.errors import InvalidDate, InvalidInput
from market_spine.markets import calendars, instruments, rolls
from market_spine.markets.dates import MINUTE_NS
from market_spine.providers.base import BAR_SCHEMA, UNTIL, BarCapture, live_until
from market_spine.providers.simulated_model import (
    DEFERRED_SHARE,
    EPOCH,
    ET,
    LAST_DATE,
    N_CROSSED,
    N_DUPLICATES,
    NEXT_SHARE_OUTSIDE,
    NEXT_VOLUME_SHARE,
    SPIKE_FACTOR,
    TRADING_DAYS_PER_YEAR,
    intraday_profiles,
    iso_timestamps,
    log_level_path,
    log_ohlc,
    params_for,
    previous_session_date,
    rng_for,
    round_to_tick,
    tick_decimals,
)

#: Defects that can be injected into the simulated bars.
DEFECTS = frozenset({"gaps", "spikes", "duplicates", "crossed"})


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

    def bars(self, symbol: str, trade_date: date, contract: str | None = None) -> pl.DataFrame:
        """Bars of `symbol`'s session `trade_date` up to now, in BAR_SCHEMA, sorted by `ts`: of
        the front contract, or of `contract` (a local symbol such as CLZ4, not yet expired).

        Empty (with the schema) on a date without a session or before the session opens.
        """
        return self.simulate(symbol, trade_date, contract)[0]

    def simulate(
        self, symbol: str, trade_date: date, contract: str | None = None
    ) -> tuple[pl.DataFrame, dict[str, list[str]]]:
        """The bars (as `bars`) and the defects injected into them: {defect: [bar ts, ISO UTC]}."""
        inst = instruments.get_instrument(symbol)
        trade_date = _check_date(trade_date)
        sess = self._session(inst, trade_date, held_contract(inst.root, trade_date, contract))
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
        front = instruments.front_contract(inst.root, trade_date)
        level = math.exp(self._log_level(inst, trade_date) + _carry(inst.root, front, trade_date))
        return float(round_to_tick(np.array([level]), tick, tick_decimals(tick))[0])

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
        p = params_for(inst.root)
        path = log_level_path(self.seed, inst.root, float(inst.base_price), p.annual_vol)
        return float(path[max(0, (d - EPOCH).days)])

    def _session(
        self,
        inst: instruments.Instrument,
        trade_date: date,
        held: instruments.Contract | None = None,
    ) -> _Session | None:
        """Simulate the full session of `held` (default the front contract): clean bars, then
        defects; None if there is no session."""
        root = inst.root
        front = instruments.front_contract(root, trade_date)
        held = held or front
        sess = calendars.session(root, trade_date)
        if sess is None:
            return None
        minutes = pd.DatetimeIndex(sess.expected_minutes())
        if len(minutes) == 0:
            return None
        ts = minutes.as_unit("ns").asi8
        et = minutes.tz_convert(ET)
        minute_of_day = np.asarray(et.hour * 60 + et.minute, dtype=np.int64)

        p = params_for(root)
        tick = float(inst.tick_size)
        dec = tick_decimals(tick)
        prev = previous_session_date(root, trade_date)
        before = prev if prev is not None else trade_date - timedelta(days=1)
        start = self._log_level(inst, before) + _carry(root, held, before)
        end = self._log_level(inst, trade_date) + _carry(root, held, trade_date)

        n = len(ts)
        rng = rng_for(self.seed, root, trade_date.isoformat(), "session")
        z, vol_noise, size_noise = rng.standard_normal((3, n))
        # The third uniform stream is drawn (and unused) so the other streams keep their values.
        u_high, u_low, _ = 1.0 - rng.random((3, n))  # in (0, 1], safe for log
        vwap_w = rng.dirichlet(np.ones(4), n)

        var_w, vol_w = intraday_profiles(minute_of_day, p)
        s2 = var_w / var_w.sum() * (p.annual_vol**2 / TRADING_DAYS_PER_YEAR)  # per minute
        open_l, high_l, low_l, close_l = log_ohlc(start, end, s2, z, u_high, u_low)
        o, h, lo, c = (
            round_to_tick(np.exp(x), tick, dec) for x in (open_l, high_l, low_l, close_l)
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
        trades = rng_for(self.seed, root, trade_date.isoformat(), "trades").poisson(rate)
        no_trade = trades == 0
        no_trade[0] = no_trade[-1] = False  # the session's open and close levels always print
        trades = np.maximum(trades, 1)
        size = p.trade_size * np.exp(0.3 * size_noise)
        volume = np.maximum(trades, np.rint(trades * size)).astype(np.int64)
        if held != front:
            # Another month trades the front's minutes with a share of its activity, from its
            # own stream so the front's numbers do not depend on which months are asked for.
            share = _volume_share(root, trade_date, front, held)
            noise = np.exp(
                0.3
                * rng_for(
                    self.seed, root, trade_date.isoformat(), held.local_symbol
                ).standard_normal(n)
                - 0.045
            )
            trades = np.maximum(1, np.rint(trades * share * noise)).astype(np.int64)
            volume = np.maximum(trades, np.rint(volume * share * noise)).astype(np.int64)
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
        return _Session(cols, held.local_symbol, injected, ts[no_trade])

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
            length = int(rng_for(*key, "gaps-length").integers(15, 31))
            # A block of consecutive liquid-hours bars (start and end both inside liquid hours).
            starts = np.flatnonzero(liquid[: n - length] & liquid[length - 1 : n - 1])
            starts = starts[starts > 0]
            if len(starts):
                first = int(rng_for(*key, "gaps").choice(starts))
                drop[first : first + length] = True
                free[max(0, first - 1) : first + length + 1] = False
                injected["gaps"] = iso_timestamps(cols["ts"][first : first + length])

        if "spikes" in self.defects:
            # The spiked bar and the next one (which returns to normal) must both survive.
            ok = np.flatnonzero(free[:-1] & free[1:])
            if len(ok):
                k = int(rng_for(*key, "spikes").choice(ok))
                for col in ("high", "close"):
                    cols[col] = cols[col].copy()
                    spiked = np.array([cols[col][k] * SPIKE_FACTOR])
                    cols[col][k] = round_to_tick(spiked, tick, dec)[0]
                free[max(0, k - 1) : k + 2] = False
                injected["spikes"] = iso_timestamps(cols["ts"][[k]])

        if "crossed" in self.defects:
            rows = np.sort(rng_for(*key, "crossed").choice(np.flatnonzero(free), N_CROSSED, False))
            high, low = cols["high"].copy(), cols["low"].copy()
            # Swap, and where the bar had no range open a one-tick cross so high < low always.
            high[rows], low[rows] = low[rows], np.maximum(high[rows], low[rows] + tick)
            cols["high"], cols["low"] = high, np.round(low, dec)
            free[rows] = False
            injected["crossed"] = iso_timestamps(cols["ts"][rows])

        order = np.flatnonzero(~drop)
        if "duplicates" in self.defects:
            rows = np.sort(
                rng_for(*key, "duplicates").choice(np.flatnonzero(free), N_DUPLICATES, False)
            )
            # Stable sort keeps each duplicate right after its original, like a double delivery.
            order = np.sort(np.concatenate((order, rows)), kind="stable")
            injected["duplicates"] = iso_timestamps(cols["ts"][rows])
        return {name: values[order] for name, values in cols.items()}, injected


class SimulatedProvider:
    """The `simulated` BarProvider: captures from a SimulatedMarket, shaped like a real source's."""

    name = "simulated"

    def __init__(self, market: SimulatedMarket | None = None) -> None:
        self.market = market or SimulatedMarket()

    def fetch_bars(self, symbol: str, trade_date: date, contract: str | None = None) -> BarCapture:
        """One session's bars up to now, of the front contract or of `contract` (a local
        symbol); an empty capture on a date without a session."""
        # Read before the bars are cut: the capture never claims a minute it may lack.
        now = self.market.clock()
        bars, injected = self.market.simulate(symbol, trade_date, contract)
        root = instruments.get_instrument(symbol).root
        request: dict[str, Any] = {
            "symbol": root,
            "trade_date": trade_date.isoformat(),
            "contract": held_contract(root, trade_date, contract).local_symbol,
            "bar_size": "1 min",
            "what": "TRADES",
            "seed": self.market.seed,
            "defects": sorted(self.market.defects),
        }
        sess = calendars.session(root, trade_date)
        until = live_until(sess.close.to_pydatetime(), now) if sess else None
        if until is not None:
            request[UNTIL] = until.isoformat()
        notes: dict[str, Any] = {"defects": injected} if self.market.defects else {}
        payload = bars.write_csv().encode()
        return BarCapture(self.name, request, payload, bars, notes)


def held_contract(root: str, trade_date: date, contract: str | None) -> instruments.Contract:
    """The contract asked for (a local symbol of `root` still trading on `trade_date`), or the
    front contract of the roll rule when none is named; InvalidInput otherwise."""
    if contract is None:
        return instruments.front_contract(root, trade_date)
    c = instruments.parse_local_symbol(contract, near=trade_date)
    if c.root != root:
        raise InvalidInput(f"contract {contract} is not a {root} contract: pass one of {root}'s")
    if c.last_trade_date < trade_date:
        front = instruments.front_contract(root, trade_date).local_symbol
        raise InvalidInput(
            f"{c.local_symbol} stopped trading on {c.last_trade_date}, before {trade_date}: pass "
            f"a contract still trading then, e.g. {front}"
        )
    return c


def _carry(root: str, held: instruments.Contract, day: date) -> float:
    """The log premium of `held` over the root's level on `day`: carry × years to expiry."""
    years = (held.last_trade_date - day).days / 365.25
    return params_for(root).carry * years


def _volume_share(
    root: str, trade_date: date, front: instruments.Contract, held: instruments.Contract
) -> float:
    """`held`'s volume as a share of the front's on `trade_date`."""
    if held != instruments.next_contract(front):
        return DEFERRED_SHARE
    days = rolls.business_days_to_roll(root, trade_date)
    return NEXT_VOLUME_SHARE.get(days, NEXT_SHARE_OUTSIDE)


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
