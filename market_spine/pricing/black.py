"""Vectorised Black-76 prices, greeks and implied volatility for European index options
(SPX/SPXW): the public entry point of the pricing machinery.

Why Black-76: an SPX option is European and cash-settled, and per expiry we know (from put-call
parity, elsewhere) a forward ``F`` and a discount factor ``D``. Pricing on the forward needs no
dividend yield or spot/carry assumptions, so the model is ``V = D·[θF·Φ(θd1) − θK·Φ(θd2)]`` with
``d1,2 = ln(F/K)/s ± s/2``, ``s = σ√t`` and ``θ = +1`` for a call, ``−1`` for a put.

The parts live by concept: the normalised model and its greeks in
:mod:`~market_spine.pricing.model`, the implied-vol solver in
:mod:`~market_spine.pricing.implied_vol`, the normal tails in :mod:`~market_spine.pricing.normal`
and the cache-sized chunking in :mod:`~market_spine.pricing.chunks`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from market_spine.pricing.chunks import chunks, flat_inputs, part
from market_spine.pricing.implied_vol import (
    ABOVE_MAX,
    BELOW_INTRINSIC,
    INVALID_INPUT,
    NO_CONVERGENCE,
    NO_PRICE,
    NO_TIME_LEFT,
    OK,
    REASONS,
    IVResult,
    implied_vol,
    implied_vol_and_greeks,
)
from market_spine.pricing.model import GREEKS, Contracts, greeks_at
from market_spine.pricing.normal import erfc, erfcx, norm_cdf

__all__ = [
    "ABOVE_MAX",
    "BELOW_INTRINSIC",
    "GREEKS",
    "INVALID_INPUT",
    "NO_CONVERGENCE",
    "NO_PRICE",
    "NO_TIME_LEFT",
    "OK",
    "REASONS",
    "IVResult",
    "black_price",
    "erfc",
    "erfcx",
    "greeks",
    "implied_vol",
    "implied_vol_and_greeks",
    "norm_cdf",
]

Array = NDArray[np.float64]


def black_price(
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    discount: ArrayLike,
    is_call: ArrayLike,
) -> Array:
    """Black-76 price ``D·[θF·Φ(θd1) − θK·Φ(θd2)]`` (arrays broadcast; ``t`` in years)."""
    return greeks(forward, strike, t, vol, discount, is_call)["price"]


def greeks(
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    discount: ArrayLike,
    is_call: ArrayLike,
    rate: ArrayLike | None = None,
) -> dict[str, Array]:
    """Black-76 price and greeks. Conventions (all per unit of the option, not per contract):

    * ``delta`` = ∂V/∂F = ``D·θ·Φ(θd1)``: the forward delta *including* the discount factor, i.e.
      the hedge in units of the forward (an ES/SPX future for SPX options). QuantLib
      ``BlackCalculator.deltaForward``. Spot delta, if wanted, is ``delta·F/S``.
    * ``gamma`` = ∂²V/∂F² = ``D·φ(d1)/(F·σ√t)`` (QuantLib ``gammaForward``).
    * ``vega`` = ∂V/∂σ per 1.00 of vol (divide by 100 for per vol point).
    * ``theta`` = −∂V/∂t per year, holding ``F``, σ and the rate ``r`` fixed while the discount
      ``D = e^{−rt}`` follows ``t``: ``r·V − vega·σ/(2t)``. Divide by 365 for calendar days.
    * ``rho`` = ∂V/∂r holding ``F`` fixed (Black-76 convention): ``−t·V``.

    ``rate`` defaults to the one implied by the discount, ``r = −ln(D)/t``.
    """
    shape, (f, k, tt, v, d), call, r = flat_inputs(
        forward, strike, t, vol, discount, flag=is_call, rate=rate
    )
    out = {name: np.empty(f.size) for name in GREEKS}
    for sl in chunks(f.size):
        contracts = Contracts.of(f[sl], k[sl], tt[sl], d[sl], call[sl], part(r, sl))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            res = greeks_at(contracts, v[sl] * np.sqrt(tt[sl]))
        for name in GREEKS:
            out[name][sl] = res[name]
    return {name: a.reshape(shape) for name, a in out.items()}
