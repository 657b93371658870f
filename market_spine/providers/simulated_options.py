"""A deterministic simulated SPX option market, consistent with the simulated futures.

The index follows the simulated ES closing level; each day's chain of SPX monthlies and SPXW
weeklies/dailies is priced with Black-76 from a known generating volatility surface (term
structure, skew, smile), then quoted with a spread model. Because the surface is known, tests can
check that the pipeline (bid/ask → mid → implied vol → surface) recovers it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from market_spine.errors import InvalidInput
from market_spine.markets.expirations import (
    SETTLE_TIME,
    is_trading_day,
    traded_expirations,
    years_to_expiry,
)
from market_spine.pricing.black import black_price
from market_spine.providers.base import CHAIN_SCHEMA, ChainCapture
from market_spine.providers.simulated import SimulatedMarket

#: Flat financing and dividend yield: the forward is S·exp((r − q)t) and discount exp(−rt).
RATE = 0.045
DIVIDEND_YIELD = 0.013


@dataclass(frozen=True)
class Surface:
    """The generating implied-volatility surface of one day, in log-moneyness k = ln(K/F).

    vol(k, t) = atm(t) + skew(t)·k + curvature·k², with a term structure that mean-reverts from
    the short end to the long end and a skew that steepens like 1/√t for short expiries.
    """

    atm_short: float
    atm_long: float
    term_decay: float
    skew: float
    curvature: float

    def atm(self, t: np.ndarray) -> np.ndarray:
        """ATM vol by year fraction: short end decaying towards the long end."""
        weight = np.exp(-t / self.term_decay)
        return self.atm_long + (self.atm_short - self.atm_long) * weight

    def vol(self, k: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Implied vol at log-moneyness k and year fraction t (clipped to a sane band)."""
        skew = self.skew / np.sqrt(np.maximum(t, 1.0 / 365) * 4.0 + 1.0)
        return np.clip(self.atm(t) + skew * k + self.curvature * k * k, 0.05, 2.5)


def _rng(*key: object) -> np.random.Generator:
    digest = hashlib.blake2b("|".join(map(str, key)).encode(), digest_size=16).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))


MIN_RANGE_YEARS = 30 / 365
#: The vol the listing rules assume: one level, not the day's, so a calm day never delists the
#: strikes a volatile day listed (exchanges keep listed strikes to expiry).
LISTING_VOL = 0.20


def _strike_grid(spot: float, t: float, vol: float) -> np.ndarray:
    """Strikes denser near the money (5 points) and wider far out (10, 25, 50, 100 points),
    spanning about ±4.5 standard deviations of at least a month (at most −80 %/+50 %)."""
    # Exchanges list a range when an expiry is born and never delist strikes as it nears, so
    # short expiries keep (at least) the range of a 30-day one.
    width = min(max(4.5 * vol * math.sqrt(max(t, MIN_RANGE_YEARS)), 0.03), 0.8)
    lo, hi = spot * (1 - width), spot * (1 + min(width, 0.5))
    bands = [(0.05, 5.0), (0.10, 10.0), (0.20, 25.0), (0.50, 50.0), (1.0, 100.0)]
    strikes: list[np.ndarray] = []
    inner = -1.0
    for limit, step in bands:
        grid = np.arange(math.floor(spot * (1 - limit) / step) * step, spot * (1 + limit), step)
        distance = np.abs(grid / spot - 1)
        # Each step size serves only its ring around the money, so steps only widen outwards.
        strikes.append(grid[(distance > inner) & (distance <= limit)])
        inner = limit
    grid = np.unique(np.concatenate(strikes).round(2))
    return grid[(grid >= lo) & (grid <= hi) & (grid > 0)]


def _tick(price: np.ndarray) -> np.ndarray:
    """SPX quote increments: 0.05 below 3.00, 0.10 above."""
    return np.where(price < 3.0, 0.05, 0.10)


def quote(mid: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask around model mids at log-moneyness `k`: the spread model of the market."""
    tick = _tick(mid)
    # Spreads widen for far-from-the-money options; never under one tick.
    half = np.maximum(tick, 0.004 * mid + 0.05 + 0.1 * np.abs(k))
    bid = np.floor((mid - half) / tick) * tick
    ask = np.ceil((mid + half) / tick) * tick
    return np.where(bid < 0.05, 0.0, bid).round(2), np.maximum(ask, 0.05).round(2)


class SimulatedOptionMarket:
    """SPX/SPXW end-of-day chains derived from the simulated futures market's ES path."""

    def __init__(self, seed: int = 7, futures: SimulatedMarket | None = None) -> None:
        self.seed = seed
        self.futures = futures or SimulatedMarket(seed=seed)

    def spot(self, day: date) -> float:
        """The SPX close: the simulated ES session level less its carry to the quarterly expiry
        (a few points), rounded to cents."""
        return round(self.futures.daily_level("ES", day) * 0.998, 2)

    def surface(self, day: date) -> Surface:
        """The day's generating surface: slowly varying, deterministic per (seed, day)."""
        rng = _rng(self.seed, "surface", day.isoformat())
        level = 0.16 + 0.04 * math.sin(day.toordinal() / 45.0) + 0.01 * rng.standard_normal()
        return Surface(
            atm_short=max(0.08, level + 0.02 * rng.standard_normal()),
            atm_long=max(0.10, level + 0.02),
            term_decay=0.25,
            skew=-0.35 + 0.03 * rng.standard_normal(),
            curvature=0.6,
        )

    def chain(self, root: str, day: date) -> pl.DataFrame:
        """The EOD chain of `root` on `day`: one row per contract that traded that day (empty on
        a holiday). An SPXW expiring that day (0DTE) is carried: it traded until its 16:00 ET
        settlement, so its EOD quote is its closing quote, at intrinsic value."""
        root = root.upper()
        if root not in SETTLE_TIME:
            raise InvalidInput(f"option root {root!r} is not SPX or SPXW")
        if not is_trading_day(day):
            return pl.DataFrame(schema=CHAIN_SCHEMA)
        spot = self.spot(day)
        surface = self.surface(day)
        frames = []
        for expiration in traded_expirations(root, day):
            t = years_to_expiry(root, expiration, day)
            frames.append(self._expiry(root, day, expiration, t, spot, surface))
        if not frames:
            return pl.DataFrame(schema=CHAIN_SCHEMA)
        return pl.concat(frames)

    @staticmethod
    def strikes_for(t: float, spot: float) -> np.ndarray:
        """The strike grid listed for an expiry `t` years out when the index is at `spot`."""
        return _strike_grid(spot, t, LISTING_VOL)

    def _expiry(
        self, root: str, day: date, expiration: date, t: float, spot: float, surface: Surface
    ) -> pl.DataFrame:
        # An expiration settled before the snapshot (0DTE) is worth its intrinsic value against
        # the settlement print, the day's close.
        left = max(t, 0.0)
        forward = spot * math.exp((RATE - DIVIDEND_YIELD) * left)
        discount = math.exp(-RATE * left)
        strikes = self.strikes_for(t, spot)
        k = np.log(strikes / forward)
        n = strikes.size
        strike = np.concatenate([strikes, strikes])
        is_call = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
        if left > 0:
            vols = surface.vol(k, np.full_like(k, left))
            vol = np.concatenate([vols, vols])
            mid = black_price(forward, strike, left, vol, discount, is_call)
        else:
            mid = np.maximum(np.where(is_call, spot - strike, strike - spot), 0.0)
        rng = _rng(self.seed, root, day.isoformat(), expiration.isoformat())
        bid, ask = quote(mid, np.concatenate([k, k]))
        busy = np.exp(-8 * np.abs(np.concatenate([k, k])) / math.sqrt(max(t, 1 / 365)))
        volume = rng.poisson(2000 * busy)
        frame = pl.DataFrame(
            {
                "root": root,
                "expiration": expiration,
                "strike": strike,
                "right": np.where(is_call, "C", "P"),
                "bid": bid,
                "ask": ask,
                "bid_size": rng.integers(1, 500, 2 * n),
                "ask_size": rng.integers(1, 500, 2 * n),
                "volume": volume,
                "open_interest": volume * 7 + rng.integers(0, 5000, 2 * n),
                "underlying_price": spot,
            }
        )
        return frame.select(pl.col(c).cast(dt) for c, dt in CHAIN_SCHEMA.items())


class SimulatedChainProvider:
    """The `simulated` ChainProvider: EOD chains from a SimulatedOptionMarket, as CSV payloads."""

    name = "simulated"

    def __init__(self, market: SimulatedOptionMarket | None = None) -> None:
        self.market = market or SimulatedOptionMarket()

    def fetch_chain(self, root: str, day: date) -> ChainCapture:
        """The day's chain; the payload is its CSV, as a terminal would send it."""
        chain = self.market.chain(root, day)
        request = {
            "endpoint": "option/history/eod",
            "symbol": root.upper(),
            "expiration": "*",
            "date": day.isoformat(),
            "seed": self.market.seed,
        }
        return ChainCapture(self.name, request, chain.write_csv().encode(), chain)
