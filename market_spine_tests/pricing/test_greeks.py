"""Black-76 implied vol and greeks against QuantLib as the oracle, plus the no-solution flags."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql

from market_spine.pricing.black import (
    ABOVE_MAX,
    BELOW_INTRINSIC,
    INVALID_INPUT,
    NO_PRICE,
    NO_TIME_LEFT,
    OK,
    REASONS,
    black_price,
    erfc,
    greeks,
    implied_vol,
    implied_vol_and_greeks,
    norm_cdf,
)

N_QL = 4000
#: A 1e-10 vol error must move the price by more than this relative amount for the price to pin
#: the vol to 1e-10: the QuantLib price and ours each carry a few ulps (≈1e-15) of rounding, so
#: 1e-14 leaves a 10x margin. Options below it are deep ITM/short-dated ones whose time value is
#: lost in the rounding of the price — no method can recover their vol to 1e-10.
INFO_REL = 1e-14


def random_contracts(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Random SPX-like contracts: t from 1 day to 3 years (log-uniform), vol 5%–150%, moneyness
    ``ln(F/K)`` within ±4 standard deviations, calls and puts, rates 0–6%. Shared with
    ``bench/greeks.py``."""
    rng = np.random.default_rng(seed)
    t = np.exp(rng.uniform(np.log(1 / 365), np.log(3.0), n))
    vol = rng.uniform(0.05, 1.5, n)
    z = rng.uniform(-4.0, 4.0, n)
    forward = 5000.0 * rng.uniform(0.8, 1.2, n)
    strike = forward * np.exp(-z * vol * np.sqrt(t))
    rate = rng.uniform(0.0, 0.06, n)
    discount = np.exp(-rate * t)
    is_call = rng.random(n) < 0.5
    return {
        "forward": forward,
        "strike": strike,
        "t": t,
        "vol": vol,
        "discount": discount,
        "is_call": is_call,
        "rate": rate,
    }


def _ql_type(call: bool) -> int:
    return ql.Option.Call if call else ql.Option.Put


@pytest.fixture(scope="module")
def contracts() -> dict[str, np.ndarray]:
    c = random_contracts(N_QL)
    c["ql_price"] = np.array(
        [
            ql.blackFormula(_ql_type(cp), k, f, v * math.sqrt(t), d)
            for f, k, t, v, d, cp in zip(
                c["forward"],
                c["strike"],
                c["t"],
                c["vol"],
                c["discount"],
                c["is_call"],
                strict=True,
            )
        ]
    )
    return c


def _informative(c: dict[str, np.ndarray], price: np.ndarray) -> np.ndarray:
    vega = greeks(c["forward"], c["strike"], c["t"], c["vol"], c["discount"], c["is_call"])["vega"]
    return vega * 1e-10 > INFO_REL * price


def test_black_price_matches_quantlib(contracts: dict[str, np.ndarray]) -> None:
    c = contracts
    ours = black_price(c["forward"], c["strike"], c["t"], c["vol"], c["discount"], c["is_call"])
    # QuantLib's Φ is only ~1e-11 relative in the tails (|d| ≈ 4–5), so it is the looser check;
    # the tight one is against the textbook formula on math.erfc (correctly rounded to ~1 ulp).
    np.testing.assert_allclose(ours, c["ql_price"], rtol=1e-10, atol=1e-12)

    def phi(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    ref = []
    for f, k, t, v, d, cp in zip(
        c["forward"], c["strike"], c["t"], c["vol"], c["discount"], c["is_call"], strict=True
    ):
        s = v * math.sqrt(t)
        d1 = math.log(f / k) / s + s / 2
        w = 1.0 if cp else -1.0
        ref.append(d * w * (f * phi(w * d1) - k * phi(w * (d1 - s))))
    # The reference itself cancels for ITM options; scale the tolerance by the larger leg.
    legs = c["discount"] * np.maximum(c["forward"], c["strike"])
    assert (np.abs(ours - np.array(ref)) <= 1e-13 * ours + 1e-15 * legs).all()


def test_implied_vol_vs_quantlib_oracle(contracts: dict[str, np.ndarray]) -> None:
    c = contracts
    res = implied_vol(c["ql_price"], c["forward"], c["strike"], c["t"], c["discount"], c["is_call"])
    assert res.converged.all() and (res.reason == OK).all()
    mask = _informative(c, c["ql_price"])
    assert mask.mean() > 0.95
    err = np.abs(res.vol - c["vol"])[mask]
    assert err.max() <= 1e-10
    # Never a wrong number outside the mask either: just less informative prices.
    assert np.abs(res.vol - c["vol"]).max() <= 1e-6


def test_implied_vol_agrees_with_quantlib_solver(contracts: dict[str, np.ndarray]) -> None:
    c = contracts
    idx = np.flatnonzero(_informative(c, c["ql_price"]))[:500]
    ql_vol = []
    for i in idx:
        std = ql.blackFormulaImpliedStdDev(
            _ql_type(bool(c["is_call"][i])),
            float(c["strike"][i]),
            float(c["forward"][i]),
            float(c["ql_price"][i]),
            float(c["discount"][i]),
            0.0,
            0.5,
            1e-14,
            200,
        )
        ql_vol.append(std / math.sqrt(c["t"][i]))
    ours = implied_vol(
        c["ql_price"][idx], c["forward"][idx], c["strike"][idx], c["t"][idx],
        c["discount"][idx], c["is_call"][idx],
    ).vol  # fmt: skip
    np.testing.assert_allclose(ours, np.array(ql_vol), rtol=0, atol=1e-9)


def test_round_trip_on_own_prices() -> None:
    c = random_contracts(20_000, seed=11)
    price = black_price(c["forward"], c["strike"], c["t"], c["vol"], c["discount"], c["is_call"])
    res = implied_vol(price, c["forward"], c["strike"], c["t"], c["discount"], c["is_call"])
    assert res.converged.all()
    mask = _informative(c, price)
    assert mask.mean() > 0.95
    assert np.abs(res.vol - c["vol"])[mask].max() <= 1e-10


def test_greeks_match_quantlib(contracts: dict[str, np.ndarray]) -> None:
    c = contracts
    g = greeks(c["forward"], c["strike"], c["t"], c["vol"], c["discount"], c["is_call"])
    for i in range(0, N_QL, 7):
        f, k, t, v, d = (float(c[n][i]) for n in ("forward", "strike", "t", "vol", "discount"))
        payoff = ql.PlainVanillaPayoff(_ql_type(bool(c["is_call"][i])), k)
        calc = ql.BlackCalculator(payoff, f, v * math.sqrt(t), d)
        assert g["delta"][i] == pytest.approx(calc.deltaForward(), rel=1e-9, abs=1e-14)
        assert g["gamma"][i] == pytest.approx(calc.gammaForward(), rel=1e-9, abs=1e-18)
        assert g["vega"][i] == pytest.approx(calc.vega(t), rel=1e-9, abs=1e-10)
        assert g["price"][i] == pytest.approx(calc.value(), rel=1e-10, abs=1e-12)


def test_theta_and_rho_by_finite_differences(contracts: dict[str, np.ndarray]) -> None:
    c = {k: v[:500] for k, v in contracts.items()}
    r = c["rate"]
    g = greeks(c["forward"], c["strike"], c["t"], c["vol"], c["discount"], c["is_call"], rate=r)

    def price(t: np.ndarray, rate: np.ndarray) -> np.ndarray:
        return black_price(c["forward"], c["strike"], t, c["vol"], np.exp(-rate * t), c["is_call"])

    ht = 1e-5 * c["t"]
    theta_fd = -(price(c["t"] + ht, r) - price(c["t"] - ht, r)) / (2 * ht)
    hr = 1e-5
    rho_fd = (price(c["t"], r + hr) - price(c["t"], r - hr)) / (2 * hr)
    scale = c["forward"] * 1e-7  # FD noise floor: ~1e-16·F / h
    np.testing.assert_allclose(g["theta"], theta_fd, rtol=1e-6, atol=float(scale.max()))
    np.testing.assert_allclose(g["rho"], rho_fd, rtol=1e-6, atol=1e-6)
    # The default rate is the one the discount implies.
    g2 = greeks(c["forward"], c["strike"], c["t"], c["vol"], c["discount"], c["is_call"])
    np.testing.assert_allclose(g2["theta"], g["theta"], rtol=1e-9, atol=1e-9)


def test_implied_vol_and_greeks_in_one_pass(contracts: dict[str, np.ndarray]) -> None:
    c = contracts
    res, g = implied_vol_and_greeks(
        c["ql_price"], c["forward"], c["strike"], c["t"], c["discount"], c["is_call"]
    )
    ref = greeks(c["forward"], c["strike"], c["t"], res.vol, c["discount"], c["is_call"])
    for name, values in ref.items():
        np.testing.assert_allclose(g[name], values, rtol=1e-12, atol=0, err_msg=name)
    np.testing.assert_allclose(g["price"], c["ql_price"], rtol=1e-11)


def test_flags_instead_of_wrong_numbers() -> None:
    f, k, t, d = 100.0, 90.0, 0.5, 0.99
    intrinsic = d * (f - k)
    cases = [
        # (price, strike, t, is_call, reason)
        (intrinsic * 0.999, k, t, True, BELOW_INTRINSIC),
        (intrinsic, k, t, True, BELOW_INTRINSIC),
        (d * (110.0 - f) + 1.0, 110.0, t, False, OK),
        (d * f, k, t, True, ABOVE_MAX),
        (d * f * 1.5, k, t, True, ABOVE_MAX),
        (d * k, k, t, False, ABOVE_MAX),
        (0.0, k, t, True, INVALID_INPUT),
        (-1.0, 110.0, t, True, INVALID_INPUT),
        (5.0, k, 0.0, False, NO_TIME_LEFT),
        (5.0, k, -0.1, False, NO_TIME_LEFT),
        (float("nan"), k, -0.1, True, NO_TIME_LEFT),
        (float("nan"), k, t, True, NO_PRICE),
        (12.0, k, t, True, OK),
    ]
    price = np.array([c[0] for c in cases])
    strike = np.array([c[1] for c in cases])
    tt = np.array([c[2] for c in cases])
    call = np.array([c[3] for c in cases])
    want = np.array([c[4] for c in cases])
    res, g = implied_vol_and_greeks(price, f, strike, tt, d, call)
    np.testing.assert_array_equal(res.reason, want)
    np.testing.assert_array_equal(res.converged, want == OK)
    assert np.isnan(res.vol[want != OK]).all()
    assert np.isfinite(res.vol[want == OK]).all()
    assert np.isnan(g["delta"][want != OK]).all()
    assert set(REASONS) >= set(want.tolist())


def test_scalars_and_broadcasting() -> None:
    v = implied_vol(10.0, 100.0, 100.0, 1.0, 0.98, True)
    assert v.vol.shape == () and bool(v.converged)
    assert float(black_price(100.0, 100.0, 1.0, v.vol, 0.98, True)) == pytest.approx(10.0, 1e-14)
    strikes = np.linspace(80, 120, 5)[:, None]
    ts = np.array([0.1, 0.5, 1.0])[None, :]
    prices = black_price(100.0, strikes, ts, 0.25, 0.99, False)
    assert prices.shape == (5, 3)
    res, g = implied_vol_and_greeks(prices, 100.0, strikes, ts, 0.99, False)
    assert res.vol.shape == (5, 3) and g["gamma"].shape == (5, 3)
    np.testing.assert_allclose(res.vol, 0.25, atol=1e-12)


def test_erfc_and_norm_cdf_against_math() -> None:
    z = np.linspace(-6.0, 26.5, 400_001)
    ref = np.array([math.erfc(v) for v in z])
    assert np.max(np.abs(erfc(z) / ref - 1.0)) <= 2e-15
    x = np.linspace(-37.0, 8.0, 200_001)
    # Same rounding of x/√2 on both sides: erfc amplifies an argument's rounding by 2z² in the tail.
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    ref_cdf = np.array([0.5 * math.erfc(-v * inv_sqrt2) for v in x])
    assert np.max(np.abs(norm_cdf(x) / ref_cdf - 1.0)) <= 2e-15
