"""Forwards from parity, implied vols and greeks, and the surface, recovered from the simulated
market whose generating surface is known."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from market_spine.options.analytics import (
    chain_greeks,
    implied_forwards,
    parity_underlying,
    surface,
    with_mid,
)
from market_spine.pricing.black import BELOW_INTRINSIC, NO_PRICE
from market_spine.providers.simulated_options import DIVIDEND_YIELD, RATE, SimulatedOptionMarket
from market_spine_tests.kit.homes import DATA

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


def one_sided_chain() -> pl.DataFrame:
    """The SPXW chain whose 5600 call is bid 0.05 with no offer and whose 4600 put has no bid."""
    return pl.read_csv(DATA / "spxw_chain_one_sided.csv", try_parse_dates=True)


def test_a_quote_without_an_offer_has_no_mid_and_no_vol() -> None:
    """Averaging in the ask of 0 gave a mid of 0.025, below the bid, and a converged vol under
    the bid's own vol. No offer means no mid, no mid vol (reason: no price) and no ask vol."""
    quotes = with_mid(one_sided_chain())
    greeks = chain_greeks(quotes, implied_forwards(quotes))
    call = greeks.filter((pl.col("strike") == 5600.0) & (pl.col("right") == "C")).row(0, named=True)
    assert call["mid"] is None and call["iv"] is None and call["iv_ask"] is None
    assert not call["iv_converged"] and call["iv_reason"] == NO_PRICE
    assert call["iv_bid"] == pytest.approx(0.185, abs=1e-3)  # the bid that exists still has one
    put = greeks.filter((pl.col("strike") == 4600.0) & (pl.col("right") == "P")).row(0, named=True)
    assert put["mid"] is None and put["iv_bid"] is None and put["iv_ask"] is not None
    two_sided = greeks.filter((pl.col("bid") > 0) & (pl.col("ask") > 0))
    assert two_sided["mid"].null_count() == 0


def test_a_side_of_size_zero_is_no_side() -> None:
    quotes = one_sided_chain().with_columns(
        ask_size=pl.when(pl.col("strike") == 5000.0).then(0).otherwise(pl.col("ask_size"))
    )
    mids = with_mid(quotes).filter(pl.col("strike") == 5000.0)["mid"]
    assert mids.len() == 2 and mids.null_count() == 2


def test_a_contract_quoted_at_parity_has_no_vol(greeks: pl.DataFrame) -> None:
    """A deep in-the-money mid exactly at discounted intrinsic value (no time value) is no vol,
    whatever the rounding of the forward and discount fitted from parity."""
    deep = (
        pl.col("strike") < 0.8 * pl.col("forward"),
        pl.col("right") == "C",
        pl.col("bid") > 0,
        pl.col("ask") > 0,
    )
    at_parity = (
        greeks.filter(*deep)
        .with_columns(mid=pl.col("discount") * (pl.col("forward") - pl.col("strike")))
        .drop("forward", "discount")
    )
    assert at_parity.height > 20
    forwards = greeks.select("root", "expiration", "forward", "discount").unique()
    solved = chain_greeks(at_parity, forwards)
    assert solved["iv"].null_count() == solved.height
    assert (solved["iv_reason"] == BELOW_INTRINSIC).all()


def test_no_vol_means_null_greeks_never_nan(greeks: pl.DataFrame) -> None:
    """An expired 0DTE (no time left) or a quote without a price has no vol: its greeks are
    nulls like its iv, never NaN, so sums and averages downstream skip them."""
    names = ["iv", "delta", "gamma", "vega", "theta", "rho"]
    assert greeks.select(pl.col(names).is_nan().sum()).row(0) == (0,) * len(names)
    expiring = greeks.filter(pl.col("expiration") == DAY)
    assert expiring.height > 0 and expiring["iv"].null_count() == expiring.height
    assert expiring["delta"].null_count() == expiring.height


def test_parity_underlying_is_near_the_index_close(market: SimulatedOptionMarket) -> None:
    """Without the index close, the chain's own put-call parity locates the forward of the
    nearest expiration with time left: within a few basis points of the close."""
    chain = market.chain("SPXW", DAY).drop("underlying_price")
    found = parity_underlying(chain, DAY)
    assert found is not None
    forward, expiration, strikes = found
    assert expiration == date(2024, 3, 6) and strikes >= 3
    assert abs(forward / market.spot(DAY) - 1) < 5e-4
    assert parity_underlying(chain.filter(pl.col("right") == "C"), DAY) is None
