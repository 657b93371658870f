"""The simulated SPX option market: deterministic, arbitrage-sane quotes from a known surface."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from market_spine.markets.expirations import eod_timestamp, listed_expirations
from market_spine.providers.simulated_options import DIVIDEND_YIELD, RATE, SimulatedOptionMarket

DAY = date(2024, 3, 5)


@pytest.fixture(scope="module")
def market() -> SimulatedOptionMarket:
    return SimulatedOptionMarket()


@pytest.fixture(scope="module")
def spxw(market: SimulatedOptionMarket) -> pl.DataFrame:
    return market.chain("SPXW", DAY)


def test_chain_is_deterministic_and_typed(
    market: SimulatedOptionMarket, spxw: pl.DataFrame
) -> None:
    assert spxw.equals(SimulatedOptionMarket().chain("SPXW", DAY))
    assert spxw.schema["expiration"] == pl.Date and spxw.schema["bid_size"] == pl.Int64
    assert spxw.select("expiration", "strike", "right").is_duplicated().sum() == 0
    assert market.chain("SPX", date(2024, 12, 25)).is_empty()


def test_listed_expirations_are_served(spxw: pl.DataFrame, market: SimulatedOptionMarket) -> None:
    served = sorted(spxw["expiration"].unique().to_list())
    # The 0DTE expiry traded until its 16:00 settlement: the EOD chain carries it.
    assert served == listed_expirations("SPXW", DAY) and served[0] == DAY
    spx = market.chain("SPX", DAY)
    assert sorted(spx["expiration"].unique().to_list())[0] == date(2024, 3, 15)


def test_an_expiring_spxw_is_quoted_at_intrinsic_and_an_expired_spx_is_gone(
    spxw: pl.DataFrame, market: SimulatedOptionMarket
) -> None:
    zero = spxw.filter(pl.col("expiration") == DAY)
    spot = zero["underlying_price"][0]
    intrinsic = zero.select(
        pl.when(pl.col("right") == "C")
        .then(spot - pl.col("strike"))
        .otherwise(pl.col("strike") - spot)
        .clip(lower_bound=0.0)
    ).to_series()
    assert zero.height > 100
    assert ((zero["bid"] <= intrinsic + 1e-9) & (intrinsic <= zero["ask"] + 1e-9)).all()
    # SPX monthlies settle at the opening print of their expiration day: they last traded the
    # day before, so the third Friday's chain does not carry them.
    third_friday = date(2024, 3, 15)
    assert third_friday not in market.chain("SPX", third_friday)["expiration"].to_list()
    assert third_friday in market.chain("SPXW", third_friday)["expiration"].to_list()


def test_strikes_are_denser_near_the_money(spxw: pl.DataFrame) -> None:
    expiry = sorted(spxw["expiration"].unique().to_list())[5]
    rows = spxw.filter((pl.col("expiration") == expiry) & (pl.col("right") == "C")).sort("strike")
    spot = rows["underlying_price"][0]
    steps = np.diff(rows["strike"].to_numpy())
    near = np.abs(rows["strike"].to_numpy()[1:] / spot - 1) < 0.02
    assert set(steps[near]) == {5.0}
    assert steps.max() >= 25.0


def test_quotes_are_sane_and_free_of_arbitrage(spxw: pl.DataFrame) -> None:
    assert (spxw["bid"] <= spxw["ask"]).all() and (spxw["bid"] >= 0).all()
    assert (spxw["ask"] >= 0.05).all()
    mid = spxw.with_columns(mid=(pl.col("bid") + pl.col("ask")) / 2)
    for (expiry,), calls in (
        mid.filter(pl.col("right") == "C").sort("strike").group_by("expiration")
    ):
        asks, bids = calls["ask"].to_numpy(), calls["bid"].to_numpy()
        # A higher strike call can never be worth more: its bid stays under the lower strike's ask.
        assert (bids[1:] <= asks[:-1] + 1e-9).all(), expiry


def test_put_call_parity_holds_within_the_spread(spxw: pl.DataFrame) -> None:
    spot = spxw["underlying_price"][0]
    wide = spxw.pivot(on="right", index=["expiration", "strike"], values=["bid", "ask"])
    close = eod_timestamp(DAY)
    for row in wide.iter_rows(named=True):
        settle_days = (row["expiration"] - close.date()).days
        t = max(settle_days, 0.01) / 365
        parity = spot * math.exp(-DIVIDEND_YIELD * t) - row["strike"] * math.exp(-RATE * t)
        lo = row["bid_C"] - row["ask_P"]
        hi = row["ask_C"] - row["bid_P"]
        assert lo - 1.0 <= parity <= hi + 1.0, row
