"""Implied vol at the bounds of the no-arbitrage band: a price at discounted intrinsic value has
no time value and so no positive vol (QuantLib answers 0, we answer NaN with a reason), and a
price at the maximum (D·F for a call, D·K for a put) has none either; a hair inside either bound
solves, and agrees with QuantLib."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql

from market_spine.pricing.black import (
    ABOVE_MAX,
    BELOW_INTRINSIC,
    INVALID_INPUT,
    OK,
    black_price,
    implied_vol,
    implied_vol_and_greeks,
)

SPOT = 5000.0
DAYS = (1, 7, 30, 365)
#: (rate, dividend yield): the forward is S·e^{(r−q)t}, the discount e^{−rt}.
CARRY = ((0.0, 0.0), (0.05, 0.0), (0.05, 0.015))
#: Strike over forward: deep and near in (or out of) the money on both sides.
MONEYNESS = (0.6, 0.8, 0.998, 1.002, 1.25, 1.6)


def _market(days: int, rate: float, dividend: float) -> tuple[float, float, float]:
    t = days / 365
    return SPOT * math.exp((rate - dividend) * t), math.exp(-rate * t), t


def _grid() -> list[tuple[float, float, float, float, bool]]:
    """(forward, strike, t, discount, is_call) over days, carry, moneyness and both rights."""
    rows = []
    for days in DAYS:
        for rate, dividend in CARRY:
            f, d, t = _market(days, rate, dividend)
            for m in MONEYNESS:
                rows += [(f, round(f * m, 2), t, d, call) for call in (True, False)]
    return rows


GRID = np.array(_grid(), dtype=object)
F, K, T, D = (GRID[:, i].astype(float) for i in range(4))
CALL = GRID[:, 4].astype(bool)
INTRINSIC = D * np.maximum(np.where(CALL, F - K, K - F), 0.0)
ITM = INTRINSIC > 0.0


def _ql_vol(price: float, f: float, k: float, t: float, d: float, call: bool) -> float:
    kind = ql.Option.Call if call else ql.Option.Put
    return ql.blackFormulaImpliedStdDev(kind, k, f, price, d, 0.0, 0.5, 1e-14, 200) / math.sqrt(t)


@pytest.mark.parametrize("days", [1, 7, 30])
def test_a_deep_call_quoted_at_parity_has_no_vol(days: int) -> None:
    """F = 5000, K = 4005, D = 1, price 995.00: QuantLib answers 0, we NaN with reason 1."""
    t = days / 365
    res = implied_vol(995.0, 5000.0, 4005.0, t, 1.0, True)
    assert math.isnan(float(res.vol)) and not bool(res.converged)
    assert int(res.reason) == BELOW_INTRINSIC
    std = ql.blackFormulaImpliedStdDev(ql.Option.Call, 4005.0, 5000.0, 995.0, 1.0)
    assert std == pytest.approx(0.0, abs=1e-6)


def test_no_strike_priced_at_parity_gets_a_vol() -> None:
    strikes = np.arange(4000.0, 4990.0, 5.0)
    res = implied_vol(5000.0 - strikes, 5000.0, strikes, 7 / 365, 1.0, True)
    assert not res.converged.any()
    assert (res.reason == BELOW_INTRINSIC).all()


@pytest.mark.parametrize("form", ["D*(F-K)", "D*F-D*K"])
def test_prices_exactly_at_discounted_intrinsic_have_no_vol(form: str) -> None:
    """Calls and puts, discount factors below 1, forwards carrying rates and dividends: however
    the intrinsic value is rounded, it never solves."""
    price = INTRINSIC if form == "D*(F-K)" else np.where(CALL, D * F - D * K, D * K - D * F)
    res, g = implied_vol_and_greeks(price[ITM], F[ITM], K[ITM], T[ITM], D[ITM], CALL[ITM])
    assert ITM.sum() == len(GRID) // 2
    assert (res.reason == BELOW_INTRINSIC).all()
    assert np.isnan(res.vol).all() and not res.converged.any()
    assert np.isnan(g["delta"]).all()


def test_a_hair_below_intrinsic_has_no_vol() -> None:
    for hair in (1e-9, 1e-6, 0.01):
        res = implied_vol(INTRINSIC[ITM] - hair, F[ITM], K[ITM], T[ITM], D[ITM], CALL[ITM])
        assert (res.reason == BELOW_INTRINSIC).all(), hair


@pytest.mark.parametrize(("hair", "rtol"), [(1e-9, 1e-4), (1e-6, 1e-6), (1e-3, 1e-8)])
def test_a_hair_above_intrinsic_solves_like_quantlib(hair: float, rtol: float) -> None:
    """A time value of 1e-9 index points is ~1e-12 of a deep ITM price: still above rounding,
    so it solves, reprices exactly and agrees with QuantLib as far as that time value carries
    information (a price's last bit, ~4e-13, is 4e-4 of a 1e-9 time value)."""
    price = INTRINSIC + hair
    res = implied_vol(price, F, K, T, D, CALL)
    assert (res.reason == OK).all() and res.converged.all()
    np.testing.assert_allclose(black_price(F, K, T, res.vol, D, CALL), price, rtol=0, atol=1e-12)
    ql_vol = np.array(
        [
            _ql_vol(p, f, k, t, d, c)
            for p, f, k, t, d, c in zip(price, F, K, T, D, CALL, strict=True)
        ]
    )
    np.testing.assert_allclose(res.vol, ql_vol, rtol=rtol)


def test_out_of_the_money_prices_keep_their_vol_down_to_the_smallest() -> None:
    """No intrinsic value, no rounding to fear: any positive price solves, zero is invalid."""
    otm = ~ITM & (np.abs(np.log(K / F)) > 0.01)
    for price in (1e-12, 1e-9, 0.05):
        res = implied_vol(price, F[otm], K[otm], T[otm], D[otm], CALL[otm])
        assert (res.reason == OK).all(), price
    assert (implied_vol(0.0, F, K, T, D, CALL).reason == INVALID_INPUT).all()


def test_prices_at_the_maximum_have_no_vol_and_a_hair_below_solves() -> None:
    upper = np.where(CALL, D * F, D * K)
    res = implied_vol(upper, F, K, T, D, CALL)
    assert (res.reason == ABOVE_MAX).all() and np.isnan(res.vol).all()
    assert (implied_vol(upper * (1 + 1e-12), F, K, T, D, CALL).reason == ABOVE_MAX).all()
    # A large but finite vol: 30 % below the maximum is ~1,000 % annualised for a week.
    inside = implied_vol(upper * 0.7, F, K, T, D, CALL)
    assert inside.converged.all()
    np.testing.assert_allclose(black_price(F, K, T, inside.vol, D, CALL), upper * 0.7, rtol=1e-12)
