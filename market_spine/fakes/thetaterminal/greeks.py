"""The EOD greeks the terminal computes on its 17:15 report: Black-Scholes with a dividend yield
on the closing underlying price, every order the v3 greeks row carries.

Units follow the terminal's published rows: vega and rho per unit of vol and rate, theta and
charm per calendar day. An expiring contract is priced over a floor of time to expiry (one hour,
or 0.15 days with `version=1`), as the terminal documents for 0DTE.
"""

from __future__ import annotations

import numpy as np

from market_spine.pricing.black import implied_vol
from market_spine.pricing.normal import norm_cdf

#: The greeks row's columns after the EOD columns, in the terminal's order.
GREEK_COLUMNS = (
    "delta",
    "theta",
    "vega",
    "rho",
    "epsilon",
    "lambda",
    "gamma",
    "vanna",
    "charm",
    "vomma",
    "veta",
    "vera",
    "speed",
    "zomma",
    "color",
    "ultima",
    "d1",
    "d2",
    "dual_delta",
    "dual_gamma",
    "implied_vol",
    "iv_error",
)
#: Minimum time to expiry, in years, by the `version` parameter.
TIME_FLOOR = {"latest": 1 / (365 * 24), "1": 0.15 / 365}


def _pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)


def eod_greeks(
    price: np.ndarray,
    spot: float,
    strike: np.ndarray,
    t: np.ndarray,
    rate: float,
    dividend: float,
    is_call: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every greek of the v3 row for option prices `price` (NaN where the vol does not solve:
    no price, no time value)."""
    b = rate - dividend
    forward = spot * np.exp(b * t)
    disc = np.exp(-rate * t)
    iv = implied_vol(price, forward, strike, t, disc, is_call).vol
    s = iv * np.sqrt(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(spot / strike) + (b + 0.5 * iv * iv) * t) / s
        d2 = d1 - s
        eq = np.exp(-dividend * t)
        p1, p2 = _pdf(d1), _pdf(d2)
        n1, n2 = norm_cdf(d1), norm_cdf(d2)
        sign = np.where(is_call, 1.0, -1.0)
        delta = np.where(is_call, eq * n1, eq * (n1 - 1))
        gamma = eq * p1 / (spot * s)
        vega = spot * eq * p1 * np.sqrt(t)
        cdf_d1 = np.where(is_call, n1, 1 - n1)
        cdf_d2 = np.where(is_call, n2, 1 - n2)
        theta = (
            -spot * eq * p1 * iv / (2 * np.sqrt(t))
            - sign * (b - rate) * spot * eq * cdf_d1
            - sign * rate * strike * disc * cdf_d2
        )
        rho = sign * strike * t * disc * cdf_d2
        epsilon = -sign * spot * t * eq * cdf_d1
        carry = (2 * b * t - d2 * s) / (2 * t * s)
        charm = -eq * (p1 * carry + sign * (b - rate) * cdf_d1)
        vomma = vega * d1 * d2 / iv
        veta = vega * ((rate - b) + b * d1 / s - (1 + d1 * d2) / (2 * t))
        out = {
            "delta": delta,
            "theta": theta / 365,
            "vega": vega,
            "rho": rho,
            "epsilon": epsilon,
            "lambda": delta * spot / price,
            "gamma": gamma,
            "vanna": -eq * p1 * d2 / iv,
            "charm": charm / 365,
            "vomma": vomma,
            "veta": veta,
            "vera": -strike * t * disc * p2 * d1 / iv,
            "speed": -gamma / spot * (1 + d1 / s),
            "zomma": gamma * (d1 * d2 - 1) / iv,
            "color": gamma * ((rate - b) + b * d1 / s + (1 - d1 * d2) / (2 * t)),
            "ultima": -vega / (iv * iv) * (d1 * d2 * (1 - d1 * d2) + d1 * d1 + d2 * d2),
            "d1": d1,
            "d2": d2,
            "dual_delta": -sign * disc * cdf_d2,
            "dual_gamma": disc * p2 / (strike * s),
            "implied_vol": iv,
            "iv_error": np.where(np.isfinite(iv), 0.0, np.nan),
        }
    return {name: np.round(out[name], 4) for name in GREEK_COLUMNS}
