"""Black-76 prices on the forward, vectorised; the options domain's IV and greeks build on it."""

from __future__ import annotations

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)


def norm_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF."""
    return 0.5 * (1.0 + _erf(np.asarray(x, dtype=float) / math.sqrt(2.0)).astype(float))


def black_price(
    forward: np.ndarray | float,
    strike: np.ndarray | float,
    t: np.ndarray | float,
    vol: np.ndarray | float,
    discount: np.ndarray | float,
    is_call: np.ndarray | bool,
) -> np.ndarray:
    """Discounted Black-76 price of a European call or put on a forward."""
    f, k, t, v, d = (np.asarray(x, dtype=float) for x in (forward, strike, t, vol, discount))
    sd = v * np.sqrt(t)
    d1 = (np.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    call = d * (f * norm_cdf(d1) - k * norm_cdf(d2))
    put = d * (k * norm_cdf(-d2) - f * norm_cdf(-d1))
    return np.where(is_call, call, put)
