"""The Black-76 model of a European option on a forward, in the normalised form both the pricer
and the implied-vol solver use.

``V = D·[θF·Φ(θd1) − θK·Φ(θd2)]`` with ``d1,2 = ln(F/K)/s ± s/2``, ``s = σ√t`` and ``θ = +1``
for a call, ``−1`` for a put. Normalised, with ``x = ln(F/K)`` and ``β = V / (D·√(FK))``, every
contract is an out-of-the-money call at ``x ≤ 0`` plus its intrinsic value (put-call parity;
a put at ``x`` is a call at ``−x``): one code path, no branches per option type. The OTM call is
``c = ½·E·(erfcx(|d1|/√2) − erfcx(|d2|/√2))`` with ``E = exp(−x²/2s² − s²/8)``, which keeps full
relative precision deep out of the money.

Functions here work on one chunk of flat float64 arrays (see :mod:`market_spine.pricing.chunks`)
and leave floating-point warnings to their callers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from market_spine.pricing.normal import CHEB_TERMS, INV_SQRT2, INV_SQRT2PI, erfcx

Array = NDArray[np.float64]

#: Names of the greeks the model returns, in order.
GREEKS = ("price", "delta", "gamma", "vega", "theta", "rho")


def otm_call(
    x: Array, s: Array, ex: Array, terms: int = CHEB_TERMS
) -> tuple[Array, Array, Array, Array]:
    """Normalised OTM call ``c(x, s)`` for ``x ≤ 0``, with ``E`` and the two erfcx values.

    Returns ``(c, E, g1, g2)``, ``g1 = erfcx(|d1|/√2)``, ``g2 = erfcx(|d2|/√2)``; the vega in
    ``s`` is ``E/√2π``. ``ex`` is ``e^{x/2}``, passed in as it does not change while iterating;
    ``terms`` below the full count trades precision for speed (see :func:`erfcx`).
    """
    xs = x / s
    h = 0.5 * s
    e = np.exp(-0.5 * xs * xs - 0.5 * h * h)
    d1 = xs + h
    g1 = erfcx(np.abs(d1) * INV_SQRT2, terms)
    g2 = erfcx((h - xs) * INV_SQRT2, terms)
    # d1 > 0 only when s² > 2|x|: then Φ(d1) = 1 − tail and the two tails add.
    c = np.where(d1 > 0.0, ex - 0.5 * e * (g1 + g2), 0.5 * e * (g1 - g2))
    return c, e, g1, g2


@dataclass(frozen=True)
class Contracts:
    """One chunk of contracts (forward, strike, years, discount, call flag, optional rate) and
    the normalised quantities every greeks path derives from them."""

    f: Array
    k: Array
    t: Array
    d: Array
    r: Array | None
    x: Array  # ln(F/K)
    sign: Array  # θ: +1 for a call, −1 for a put
    sqrt_fk: Array  # √(FK), the normalisation of prices
    ratio: Array  # e^{x/2} = √(F/K)

    @classmethod
    def of(
        cls, f: Array, k: Array, t: Array, d: Array, call: NDArray[np.bool_], r: Array | None
    ) -> Contracts:
        # e^{x/2} by sqrt, not exp: numpy's transcendentals cost ~20x a multiply here.
        return cls(
            f, k, t, d, r, np.log(f / k), np.where(call, 1.0, -1.0), np.sqrt(f * k), np.sqrt(f / k)
        )

    def take(self, idx: NDArray[np.intp]) -> Contracts:
        """The contracts at positions ``idx``."""
        return Contracts(
            *(None if (a := getattr(self, name)) is None else a[idx] for name in _FIELDS)
        )

    def price(self, c: Array) -> Array:
        """The contracts' prices from their normalised OTM call prices ``c``: intrinsic value is
        added back for the in-the-money ones."""
        itm = self.sign * self.x > 0.0
        return (
            self.d * self.sqrt_fk * (c + np.where(itm, np.abs(self.ratio - 1.0 / self.ratio), 0.0))
        )

    def greeks(self, s: Array, c: Array, cdf_theta_d1: Array, e: Array) -> dict[str, Array]:
        """Price and greeks at total std dev ``s`` from the OTM call price ``c``, ``Φ(θd1)`` and
        ``E`` at ``s``. Conventions: see :func:`market_spine.pricing.black.greeks`."""
        price = self.price(c)
        pdf_f = self.sqrt_fk * e * INV_SQRT2PI  # F·φ(d1)
        sqrt_t = np.sqrt(self.t)
        vega = self.d * pdf_f * sqrt_t
        rate = -np.log(self.d) / self.t if self.r is None else self.r
        return {
            "price": price,
            "delta": self.d * self.sign * cdf_theta_d1,
            "gamma": self.d * pdf_f / (self.f * self.f * s),
            "vega": vega,
            "theta": rate * price - 0.5 * vega * (s / sqrt_t) / self.t,
            "rho": -self.t * price,
        }


_FIELDS = tuple(f.name for f in fields(Contracts))


def greeks_at(contracts: Contracts, s: Array) -> dict[str, Array]:
    """Price and greeks of a chunk at total std dev ``s``, priced afresh."""
    x, ratio = contracts.x, contracts.ratio
    c, e, g1o, g2o = otm_call(-np.abs(x), s, np.minimum(ratio, 1.0 / ratio))
    # |d1| of the original contract is |d1| of the OTM one when x ≤ 0, else its |d2|.
    d1 = x / s + 0.5 * s
    tail1 = 0.5 * e / ratio * np.where(x <= 0.0, g1o, g2o)  # Φ(−|d1|): e^{−d1²/2} = E·e^{−x/2}
    cdf_theta_d1 = np.where(contracts.sign * d1 < 0.0, tail1, 1.0 - tail1)
    return contracts.greeks(s, c, cdf_theta_d1, e)


def greeks_near(contracts: Contracts, s: Array, state: tuple[Array, ...]) -> dict[str, Array]:
    """What :func:`greeks_at` gives at ``s``, from the OTM pricing ``(s0, c, E, g1, g2)`` at a
    nearby ``s0`` (``|s − s0| ≤ 1e-6·s0``): price and ``Φ(θd1)`` by third-order Taylor
    expansion in ``s`` (analytic derivatives), the density ``E`` recomputed exactly — one exp
    instead of two erfcx and an exp."""
    s0, c, e0, g1o, g2o = state
    x, ratio = contracts.x, contracts.ratio
    dlt = s - s0  # exact: s and s0 are within a factor 2
    inv_s = 1.0 / s0
    xs = x * inv_s
    xs2 = xs * xs
    # c' = E/√2π, c''/c' = x²/s³ − s/4, c'''/c' = (c''/c')² − 3x²/s⁴ − ¼ (same for ±x).
    a = xs2 * inv_s - 0.25 * s0
    b = a * a - 3.0 * xs2 * inv_s * inv_s - 0.25
    c_new = c + e0 * INV_SQRT2PI * dlt * (1.0 + dlt * (0.5 * a + dlt * b / 6.0))
    # q = Φ(−σ·d1) with σ = sign(d1) at s0, and its s-derivatives −σ·φ(d1)·(d1', …).
    d1 = xs + 0.5 * s0
    sigma = np.where(d1 < 0.0, -1.0, 1.0)
    phi = e0 / ratio * INV_SQRT2PI  # φ(d1) = E·e^{−x/2}/√2π
    tail = 0.5 * e0 / ratio * np.where(x <= 0.0, g1o, g2o)  # Φ(−|d1|)
    d1p = 0.5 - xs * inv_s
    d1pp = 2.0 * xs * inv_s * inv_s
    d1ppp = -3.0 * d1pp * inv_s
    t2 = d1pp - d1 * d1p * d1p
    t3 = (d1 * d1 - 1.0) * d1p * d1p * d1p - 3.0 * d1 * d1p * d1pp + d1ppp
    q = tail - sigma * phi * dlt * (d1p + dlt * (0.5 * t2 + dlt * t3 / 6.0))
    cdf_theta_d1 = np.where(contracts.sign * sigma > 0.0, 1.0 - q, q)
    xo_s = x / s
    e = np.exp(-0.5 * xo_s * xo_s - 0.125 * s * s)
    return contracts.greeks(s, c_new, cdf_theta_d1, e)
