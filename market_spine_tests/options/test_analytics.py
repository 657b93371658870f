"""Forwards from parity, implied vols and greeks, and the surface, recovered from the simulated
market whose generating surface is known."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from market_spine.options.analytics import chain_greeks, implied_forwards, surface, with_mid
from market_spine.providers.simulated_options import DIVIDEND_YIELD, RATE, SimulatedOptionMarket

DAY = date(2024, 3, 5)


@pytest.fixture(scope="module")
def market() -> SimulatedOptionMarket:
    return SimulatedOptionMarket()


@pytest.fixture(scope="module")
def greeks(market: SimulatedOptionMarket) -> pl.DataFrame:
    chain = pl.concat([market.chain(r, DAY) for r in ("SPX", "SPXW")])
    quotes = with_mid(chain.with_columns(trade_date=pl.lit(DAY)))
    return chain_greeks(quotes, implied_forwards(quotes))


def test_parity_recovers_forward_and_discount(market: SimulatedOptionMarket) -> None:
    quotes = with_mid(market.chain("SPXW", DAY).with_columns(trade_date=pl.lit(DAY)))
    fwd = implied_forwards(quotes).filter(pl.col("t") > 7 / 365)
    spot = market.spot(DAY)
    t = fwd["t"].to_numpy()
    expected_f = spot * np.exp((RATE - DIVIDEND_YIELD) * t)
    assert np.abs(fwd["forward"].to_numpy() / expected_f - 1).max() < 5e-4
    assert np.abs(fwd["discount"].to_numpy() - np.exp(-RATE * t)).max() < 2e-3


def test_unsolvable_quotes_are_flagged_not_wrong(greeks: pl.DataFrame) -> None:
    zero_bid = greeks.filter(pl.col("bid") == 0)
    assert zero_bid.height > 0 and zero_bid["iv"].null_count() == zero_bid.height
    solved = greeks.filter(pl.col("iv_converged"))
    assert solved["iv"].null_count() == 0 and solved.height > 0.8 * greeks.height
    assert ((solved["iv"] > 0.03) & (solved["iv"] < 3)).all()
    calls = solved.filter(pl.col("right") == "C")
    assert ((calls["delta"] > 0) & (calls["delta"] <= 1)).all()
    assert (solved["gamma"] >= 0).all() and (solved["vega"] >= 0).all()


def test_surface_recovers_the_generating_one(
    market: SimulatedOptionMarket, greeks: pl.DataFrame
) -> None:
    truth = market.surface(DAY)
    summary = surface(greeks).filter(pl.col("t") > 14 / 365)
    assert summary.height >= 10
    for row in summary.iter_rows(named=True):
        t = row["t"]
        atm = float(truth.atm(np.array([t]))[0])
        # Mids sit on a 0.05/0.10 tick grid, so a vol point of slack is honest at the short end.
        assert abs(row["atm_iv"] - atm) < 0.01 + 0.002 / math.sqrt(t), row
        assert row["rr25"] < 0, row  # equity skew: puts richer than calls
        assert row["bf25"] > -0.005, row
