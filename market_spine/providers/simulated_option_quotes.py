"""Intraday 1-minute quotes of one SPX/SPXW expiration from the simulated option market.

The index follows the simulated ES minute closes through the session, bridged so that it ends
at the day's EOD level; every contract of the expiration's EOD strike grid is priced each minute
from the day's generating surface at the minute's time to settlement, then quoted with the same
spread model as the EOD chain. Rows come contract by contract, each in time order, as the
terminal streams them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from market_spine.markets.dates import MINUTE_NS
from market_spine.markets.expirations import YEAR_SECONDS, session_minutes, settlement
from market_spine.pricing.black import black_price
from market_spine.providers.base import QUOTE_SCHEMA, QuoteCapture
from market_spine.providers.simulated_options import (
    DIVIDEND_YIELD,
    RATE,
    SimulatedOptionMarket,
    _rng,
    quote,
)


def index_path(market: SimulatedOptionMarket, day: date, minutes: np.ndarray) -> np.ndarray:
    """SPX at each minute: ES minute closes (carry-adjusted), bridged to the EOD level."""
    es = market.futures.bars("ES", day).select(
        pl.col("ts").dt.epoch("ns").alias("ns"), pl.col("close")
    )
    grid = pl.DataFrame({"ns": minutes})
    # A no-trade minute keeps the last traded level.
    closes = (
        grid.join_asof(es.sort("ns"), on="ns", strategy="backward")["close"]
        .fill_null(strategy="backward")
        .fill_null(market.spot(day) / 0.998)
        .to_numpy()
    )
    path = closes * 0.998
    weight = np.linspace(0.0, 1.0, path.size) if path.size > 1 else np.ones(path.size)
    return np.round(path + (market.spot(day) - path[-1]) * weight, 2)


def simulate_quotes(
    market: SimulatedOptionMarket,
    root: str,
    expiration: date,
    day: date,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Every minute's quote of every contract of `expiration` on `day` (QUOTE_SCHEMA).

    Empty on a holiday or once the expiration has settled; an expiring SPXW stops quoting at
    its settlement (the SPX close: 16:00 ET, 13:00 ET on an early-close day, when the session
    itself ends at 13:15 ET); a live session is cut at the last closed minute of `now`.
    """
    root = root.upper()
    all_minutes = session_minutes(day)
    settle_ns = int(settlement(root, expiration).timestamp()) * 1_000_000_000
    cutoff = int((now or datetime.now(UTC)).timestamp() * 1e9) - MINUTE_NS
    live = (all_minutes < settle_ns) & (all_minutes <= cutoff)
    if not live.any():
        return pl.DataFrame(schema=QUOTE_SCHEMA)
    spots = index_path(market, day, all_minutes)[live]
    minutes = all_minutes[live]
    surface = market.surface(day)
    t_eod = (settle_ns - all_minutes[-1] - MINUTE_NS) / 1e9 / YEAR_SECONDS
    strikes = market.strikes_for(max(t_eod, 1e-6), market.spot(day))
    t = (settle_ns - minutes) / 1e9 / YEAR_SECONDS
    forward = spots * np.exp((RATE - DIVIDEND_YIELD) * t)
    # Shapes: (contract, minute); calls then puts, so a flatten is contract-major.
    strike = np.concatenate([strikes, strikes])[:, None]
    is_call = np.repeat([True, False], strikes.size)[:, None]
    k = np.log(strike / forward[None, :])
    tt = np.broadcast_to(t[None, :], k.shape)
    vol = surface.vol(k, tt)
    mid = black_price(forward[None, :], strike, tt, vol, np.exp(-RATE * tt), is_call)
    bid, ask = quote(mid.ravel(), k.ravel())
    n_contracts, n_minutes = k.shape
    rng = _rng(market.seed, "quotes", root, expiration.isoformat(), day.isoformat())
    rows = n_contracts * n_minutes
    frame = pl.DataFrame(
        {
            "root": pl.Series([root]).new_from_index(0, rows),
            "expiration": pl.Series([expiration]).new_from_index(0, rows),
            "strike": np.repeat(strike[:, 0], n_minutes),
            "right": np.repeat(np.where(is_call[:, 0], "C", "P"), n_minutes),
            "ts": pl.Series(np.tile(minutes, n_contracts)).cast(pl.Datetime("ns", "UTC")),
            "bid": bid,
            "ask": ask,
            "bid_size": rng.integers(1, 500, rows),
            "ask_size": rng.integers(1, 500, rows),
        }
    )
    return frame.select(pl.col(c).cast(dt) for c, dt in QUOTE_SCHEMA.items())


class SimulatedQuoteProvider:
    """The `simulated` QuoteProvider: a day of one expiration's quotes, as CSV payloads."""

    name = "simulated"

    def __init__(self, market: SimulatedOptionMarket, now: datetime | None = None) -> None:
        self.market = market
        self.now = now

    def fetch_quotes(self, root: str, expiration: date, day: date) -> QuoteCapture:
        """The day's 1-minute quotes of every contract of `expiration`."""
        quotes = simulate_quotes(self.market, root, expiration, day, self.now)
        request = {
            "endpoint": "option/history/quote",
            "symbol": root.upper(),
            "expiration": expiration.isoformat(),
            "date": day.isoformat(),
            "interval": "1m",
            "seed": self.market.seed,
        }
        return QuoteCapture("simulated", request, quotes.write_csv().encode(), quotes)
