"""Vectorised Black-76 implied volatility and greeks for European index options (SPX/SPXW).

Why Black-76: an SPX option is European and cash-settled, and per expiry we know (from put-call
parity, elsewhere) a forward ``F`` and a discount factor ``D``. Pricing on the forward needs no
dividend yield or spot/carry assumptions, so the model is ``V = D·[θF·Φ(θd1) − θK·Φ(θd2)]`` with
``d1,2 = ln(F/K)/s ± s/2``, ``s = σ√t`` and ``θ = +1`` for a call, ``−1`` for a put.

How the solver is fast *and* exact (max error ≤ 1e-10 in vol against QuantLib):

* Normalise: ``x = ln(F/K)``, ``β = V / (D·√(FK))``; in-the-money prices become out-of-the-money
  ones by put-call parity, and a put at ``x`` is a call at ``−x``. Every contract is then an OTM
  call with ``x ≤ 0`` and ``0 < β < e^{x/2}``: one code path, no branches per option type.
* The OTM call is written as ``c = ½·E·(erfcx(|d1|/√2) − erfcx(|d2|/√2))`` (``d1 ≤ 0``) with
  ``E = exp(−x²/2s² − s²/8)``: the scaled complementary error function keeps full *relative*
  precision deep out of the money where ``Φ(d1) − Φ(d2)`` would cancel or underflow.
* ``erfcx`` is the 28-term Chebyshev fit of Numerical Recipes (3rd ed., ``Erf::erfccheb``),
  ≈1e-16 relative on ``[0, ∞)``: numpy has no erfc and scipy is not a dependency.
* Initial guess: the larger of Corrado-Miller (good near the money) and the inverse of the deep-OTM
  asymptotic ``c ≈ E·s³/(√2π·(x² − s⁴/4))`` (good in the wings, where Corrado-Miller collapses).
* Iteration: Householder's third-order method on ``ln c(s) − ln β`` (log space keeps the objective
  near-linear in the wings), with analytic derivatives ``c''/c' = x²/s³ − s/4`` and
  ``c'''/c' = (c''/c')² − 3x²/s⁴ − ¼``; convergence is quartic, typically 2–3 steps. Each step runs
  only on the still-unconverged options of a cache-sized chunk.

Contracts that have no implied vol get ``NaN`` and a reason code (:data:`REASONS`), never an
exception and never a wrong number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
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

#: Reason codes of :class:`IVResult` (``reason`` array), by value.
OK = 0
BELOW_INTRINSIC = 1
ABOVE_MAX = 2
INVALID_INPUT = 3
NO_CONVERGENCE = 4
REASONS: dict[int, str] = {
    OK: "ok",
    BELOW_INTRINSIC: "price at or below discounted intrinsic value (no time value)",
    ABOVE_MAX: "price at or above the upper bound (D·F for a call, D·K for a put)",
    INVALID_INPUT: "non-positive price or time (or non-positive/non-finite forward, strike, "
    "discount)",
    NO_CONVERGENCE: "solver did not converge within max_iter",
}

#: Names of the greeks returned by :func:`greeks` and :func:`implied_vol_and_greeks`.
GREEKS = ("price", "delta", "gamma", "vega", "theta", "rho")

# Numerical Recipes (3rd ed.) Chebyshev coefficients of ln(erfc(z)·e^{z²}/t), t = 2/(2+z).
_CHEB = (
    -1.3026537197817094,
    6.4196979235649026e-1,
    1.9476473204185836e-2,
    -9.561514786808631e-3,
    -9.46595344482036e-4,
    3.66839497852761e-4,
    4.2523324806907e-5,
    -2.0278578112534e-5,
    -1.624290004647e-6,
    1.303655835580e-6,
    1.5626441722e-8,
    -8.5238095915e-8,
    6.529054439e-9,
    5.059343495e-9,
    -9.91364156e-10,
    -2.27365122e-10,
    9.6467911e-11,
    2.394038e-12,
    -6.886027e-12,
    8.94487e-13,
    3.13092e-13,
    -1.12708e-13,
    3.81e-16,
    7.106e-15,
    -1.523e-15,
    -9.4e-17,
    1.21e-16,
    -2.8e-17,
)
_SQRT2 = float(np.sqrt(2.0))
_INV_SQRT2 = 1.0 / _SQRT2
_INV_SQRT2PI = float(1.0 / np.sqrt(2.0 * np.pi))
_SQRT2PI = float(np.sqrt(2.0 * np.pi))
# Chunk length: every temporary of a chunk stays in L2, which is worth ~2x over whole arrays.
_CHUNK = 16384


@dataclass(frozen=True)
class IVResult:
    """Implied vols with per-option status: ``vol`` is NaN wherever ``converged`` is False."""

    vol: Array
    converged: NDArray[np.bool_]
    reason: NDArray[np.int8]


# --------------------------------------------------------------------------- special functions


def erfcx(z: ArrayLike) -> Array:
    """Scaled complementary error function ``e^{z²}·erfc(z)`` for ``z ≥ 0`` (≈1e-16 relative)."""
    return _erfcx(np.asarray(z, dtype=np.float64), len(_CHEB))


def _erfcx(z: Array, terms: int) -> Array:
    """``erfcx`` from the first ``terms`` Chebyshev coefficients: truncating to 8 (12) terms
    leaves ≈3e-6 (≈2e-8) relative error at less cost, enough for early iterations."""
    t = 2.0 / (2.0 + z)
    ty = 4.0 * t - 2.0
    # Clenshaw recurrence, in place: this loop is most of the solver's arithmetic.
    d = np.full_like(ty, _CHEB[terms - 1])
    dd = np.zeros_like(ty)
    tmp = np.empty_like(ty)
    for c in _CHEB[terms - 2 : 0 : -1]:
        np.multiply(ty, d, out=tmp)
        tmp -= dd
        tmp += c
        d, dd, tmp = tmp, d, dd
    ty *= d
    ty += _CHEB[0]
    ty *= 0.5
    ty -= dd
    np.exp(ty, out=ty)
    ty *= t
    return ty


def erfc(z: ArrayLike) -> Array:
    """Complementary error function, ≈1e-15 relative for all real ``z`` (numpy has none)."""
    z = np.asarray(z, dtype=np.float64)
    a = np.abs(z)
    # e^{-a²} with a² split into an exact part and a small one: rounding a² itself would cost
    # ~a²·1e-16 relative error in the far tail.
    ah = np.round(a * 256.0) / 256.0
    tail = erfcx(a) * np.exp(-ah * ah) * np.exp(-(a - ah) * (a + ah))
    return np.where(z < 0, 2.0 - tail, tail)


def norm_cdf(x: ArrayLike) -> Array:
    """Standard normal CDF Φ, with full relative precision in the lower tail."""
    return 0.5 * erfc(-np.asarray(x, dtype=np.float64) * _INV_SQRT2)


# --------------------------------------------------------------------------- core (normalised)


def _otm_call(
    x: Array, s: Array, ex: Array, terms: int = len(_CHEB)
) -> tuple[Array, Array, Array, Array]:
    """Normalised OTM call ``c(x, s)`` for ``x ≤ 0``, with ``E`` and the two erfcx values.

    Returns ``(c, E, g1, g2)``, ``g1 = erfcx(|d1|/√2)``, ``g2 = erfcx(|d2|/√2)``; the vega in
    ``s`` is ``E/√2π``. ``ex`` is ``e^{x/2}``, passed in as it does not change while iterating.
    """
    xs = x / s
    h = 0.5 * s
    e = np.exp(-0.5 * xs * xs - 0.5 * h * h)
    d1 = xs + h
    g1 = _erfcx(np.abs(d1) * _INV_SQRT2, terms)
    g2 = _erfcx((h - xs) * _INV_SQRT2, terms)
    # d1 > 0 only when s² > 2|x|: then Φ(d1) = 1 − tail and the two tails add.
    c = np.where(d1 > 0.0, ex - 0.5 * e * (g1 + g2), 0.5 * e * (g1 - g2))
    return c, e, g1, g2


def _initial_guess(x: Array, beta: Array, log_beta: Array, ex: Array) -> Array:
    """Starting ``s`` for the normalised OTM call price ``beta`` at ``x ≤ 0``.

    The larger of Corrado-Miller and the dominant deep-OTM asymptotic: within 150% of the root
    everywhere and within ~1% after one Householder step (the log correction of the asymptotic
    blows up near ``x² = s⁴/4`` and costs whole iterations, so it is left out).
    """
    # Deep-OTM asymptotic ln β ≈ −(x²/2u + u/8), u = s²: the small root of the quadratic in u.
    big_l = -log_beta
    x2 = x * x
    u = x2 / (big_l + np.sqrt(np.maximum(big_l * big_l - 0.25 * x2, 0.0)))
    s_low = np.sqrt(u)
    # Corrado-Miller on the normalised call: F = e^{x/2} (= ex), K = e^{-x/2}.
    half_diff = 0.5 * (ex - 1.0 / ex)  # (F − K)/2
    a = beta - half_diff
    disc = np.maximum(a * a - 4.0 * half_diff * half_diff / np.pi, 0.0)
    s_cm = _SQRT2PI / (ex + 1.0 / ex) * (a + np.sqrt(disc))
    s0 = np.maximum(s_low, s_cm)
    return np.where(np.isfinite(s0) & (s0 > 0.0), s0, 1.0)


def _householder(
    x: Array, s: Array, ex: Array, log_beta: Array, terms: int
) -> tuple[Array, Array, tuple[Array, Array, Array, Array]]:
    """One Householder(3) step on ``ln c(s) − ln β``: ``(new s, step, (c, E, g1, g2) at s)``,
    the new ``s`` kept inside ``(s/4, 4s)`` so that a wild step cannot leave the domain."""
    c, e, g1, g2 = _otm_call(x, s, ex, terms)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = e * _INV_SQRT2PI / c  # f' = c'/c
        inv_s = 1.0 / s
        xs2 = x * x * inv_s * inv_s
        a = xs2 * inv_s - 0.25 * s  # c''/c'
        b = a * a - 3.0 * xs2 * inv_s * inv_s - 0.25  # c'''/c'
        h2 = a - r
        h3 = b - 3.0 * r * a + 2.0 * r * r
        nu = (log_beta - np.log(c)) / r
        step = nu * (1.0 + 0.5 * h2 * nu) / (1.0 + nu * (h2 + nu * h3 / 6.0))
        new = s + step
    new = np.where(np.isfinite(new), np.clip(new, 0.25 * s, 4.0 * s), 2.0 * s)
    return new, step, (c, e, g1, g2)


#: erfcx term counts of the two fixed leading steps: from the initial guess (≤150% off) one
#: step reaches ~1%, the next ~1e-8 (so ~1e-6-accurate prices suffice); a third, full-precision
#: step then lands on machine precision, and only options whose third step is still large
#: iterate further.
_CHEAP_TERMS = (8, 12)
#: Largest relative last step after which the greeks are Taylor-expanded from the last pricing
#: instead of re-priced (third order: the remainder is ~(step·|x|/s²)⁴, far below 1e-16).
_TAYLOR_STEP = 1e-6


def _solve_normalised(
    x: Array, beta: Array, ex: Array, tol: float, max_iter: int
) -> tuple[Array, Array, tuple[Array, ...], Array]:
    """``s`` with ``c(x, s) = beta`` (x ≤ 0, 0 < beta < e^{x/2}), the converged mask, the
    full-precision pricing ``(s_prev, c, E, g1, g2)`` one small step before ``s`` and the mask
    of the options for which that pricing is usable (see :func:`_greeks_taylor`). ``ex`` is
    ``e^{x/2}``."""
    log_beta = np.log(beta)
    s = _initial_guess(x, beta, log_beta, ex)
    # Householder(3) converges quartically: after a relative step ε the error is ~ε⁴, so a
    # full-precision step below 0.1·tol^¼ already leaves the result well inside tol.
    stop = 0.1 * tol**0.25
    done = np.zeros(x.shape, dtype=bool)
    taylor = np.zeros(x.shape, dtype=bool)
    nan = np.full(x.shape, np.nan)
    state: tuple[Array, ...] = (nan, nan, nan, nan, nan)
    if max_iter >= 1:
        for terms in _CHEAP_TERMS[: max_iter - 1]:
            s, _, _ = _householder(x, s, ex, log_beta, terms)
        prev = s
        s, step, priced = _householder(x, prev, ex, log_beta, len(_CHEB))
        state = (prev, *priced)
        step_size = np.abs(step)
        done = step_size <= stop * prev
        taylor = step_size <= _TAYLOR_STEP * prev
    idx = np.flatnonzero(~done)
    xi, si, lbi, exi = x[idx], s[idx], log_beta[idx], ex[idx]
    for _ in range(max_iter - 1 - len(_CHEAP_TERMS[: max_iter - 1])):
        if idx.size == 0:
            break
        new, step, _ = _householder(xi, si, exi, lbi, len(_CHEB))
        s[idx] = new
        ok = np.abs(step) <= stop * si
        done[idx[ok]] = True
        keep = ~ok
        idx, xi, si, lbi, exi = idx[keep], xi[keep], new[keep], lbi[keep], exi[keep]
    return s, done, state, taylor


# --------------------------------------------------------------------------- public API


def _broadcast(*args: ArrayLike) -> list[Array]:
    # reshape(-1) later copies broadcast views; np.ascontiguousarray would turn 0-d into 1-d.
    return list(np.broadcast_arrays(*args))


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
    f, k, tt, v, d, call = _broadcast(
        np.asarray(forward, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
        np.asarray(vol, dtype=np.float64),
        np.asarray(discount, dtype=np.float64),
        np.asarray(is_call, dtype=bool),
    )
    r = None if rate is None else np.broadcast_to(np.asarray(rate, dtype=np.float64), f.shape)
    out = {name: np.empty(f.shape) for name in GREEKS}
    flat = [a.reshape(-1) for a in (f, k, tt, v, d, call)]
    rflat = None if r is None else r.reshape(-1)
    oflat = {name: a.reshape(-1) for name, a in out.items()}
    for lo in range(0, f.size, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        fc, kc, tc, vc, dc, cc = (a[sl] for a in flat)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            res = _greeks_chunk(
                fc, kc, tc, vc * np.sqrt(tc), dc, cc, None if rflat is None else rflat[sl]
            )
        for name in GREEKS:
            oflat[name][sl] = res[name]
    return out


def _greeks_chunk(
    f: Array, k: Array, t: Array, s: Array, d: Array, call: NDArray[np.bool_], r: Array | None
) -> dict[str, Array]:
    """Price and greeks of one chunk at total std dev ``s``; shares d1/d2, pdf and cdf terms."""
    x = np.log(f / k)
    theta_sign = np.where(call, 1.0, -1.0)
    xo = -np.abs(x)
    sqrt_fk = np.sqrt(f * k)
    ratio = np.sqrt(f / k)  # e^{x/2}
    c, e, g1o, g2o = _otm_call(xo, s, np.minimum(ratio, 1.0 / ratio))
    # Undo the OTM normalisation: add intrinsic back for in-the-money options.
    itm = theta_sign * x > 0.0
    beta = c + np.where(itm, np.abs(ratio - 1.0 / ratio), 0.0)
    price = d * sqrt_fk * beta
    # |d1| of the original contract is |d1| of the OTM one when x ≤ 0, else its |d2|.
    d1 = x / s + 0.5 * s
    g_d1 = np.where(x <= 0.0, g1o, g2o)
    tail1 = 0.5 * e / ratio * g_d1  # Φ(−|d1|), as e^{−d1²/2} = E·e^{−x/2}
    cdf_theta_d1 = np.where(theta_sign * d1 < 0.0, tail1, 1.0 - tail1)
    delta = d * theta_sign * cdf_theta_d1
    pdf_f = sqrt_fk * e * _INV_SQRT2PI  # F·φ(d1)
    return _assemble_greeks(price, delta, pdf_f, f, s, t, d, r)


def _greeks_taylor(
    f: Array,
    k: Array,
    t: Array,
    s: Array,
    d: Array,
    call: NDArray[np.bool_],
    r: Array | None,
    state: tuple[Array, ...],
) -> dict[str, Array]:
    """What :func:`_greeks_chunk` gives at ``s``, from the OTM pricing ``(s0, c, E, g1, g2)`` at
    a nearby ``s0`` (``|s − s0| ≤ 1e-6·s0``): price and ``Φ(θd1)`` by third-order Taylor
    expansion in ``s`` (analytic derivatives), the density ``E`` recomputed exactly — one exp
    instead of two erfcx and an exp."""
    s0, c, e0, g1o, g2o = state
    x = np.log(f / k)
    theta_sign = np.where(call, 1.0, -1.0)
    sqrt_fk = np.sqrt(f * k)
    ratio = np.sqrt(f / k)  # e^{x/2}
    dlt = s - s0  # exact: s and s0 are within a factor 2
    inv_s = 1.0 / s0
    xs = x * inv_s
    xs2 = xs * xs
    # c' = E/√2π, c''/c' = x²/s³ − s/4, c'''/c' = (c''/c')² − 3x²/s⁴ − ¼ (same for ±x).
    a = xs2 * inv_s - 0.25 * s0
    b = a * a - 3.0 * xs2 * inv_s * inv_s - 0.25
    c_new = c + e0 * _INV_SQRT2PI * dlt * (1.0 + dlt * (0.5 * a + dlt * b / 6.0))
    itm = theta_sign * x > 0.0
    beta = c_new + np.where(itm, np.abs(ratio - 1.0 / ratio), 0.0)
    price = d * sqrt_fk * beta
    # q = Φ(−σ·d1) with σ = sign(d1) at s0, and its s-derivatives −σ·φ(d1)·(d1', …).
    d1 = xs + 0.5 * s0
    sigma = np.where(d1 < 0.0, -1.0, 1.0)
    phi = e0 / ratio * _INV_SQRT2PI  # φ(d1) = E·e^{−x/2}/√2π
    tail = 0.5 * e0 / ratio * np.where(x <= 0.0, g1o, g2o)  # Φ(−|d1|)
    d1p = 0.5 - xs * inv_s
    d1pp = 2.0 * xs * inv_s * inv_s
    d1ppp = -3.0 * d1pp * inv_s
    t1 = d1p
    t2 = d1pp - d1 * d1p * d1p
    t3 = (d1 * d1 - 1.0) * d1p * d1p * d1p - 3.0 * d1 * d1p * d1pp + d1ppp
    q = tail - sigma * phi * dlt * (t1 + dlt * (0.5 * t2 + dlt * t3 / 6.0))
    cdf_theta_d1 = np.where(theta_sign * sigma > 0.0, 1.0 - q, q)
    delta = d * theta_sign * cdf_theta_d1
    xo_s = x / s
    e = np.exp(-0.5 * xo_s * xo_s - 0.125 * s * s)
    pdf_f = sqrt_fk * e * _INV_SQRT2PI  # F·φ(d1)
    return _assemble_greeks(price, delta, pdf_f, f, s, t, d, r)


def _assemble_greeks(
    price: Array,
    delta: Array,
    pdf_f: Array,
    f: Array,
    s: Array,
    t: Array,
    d: Array,
    r: ArrayLike | None,
) -> dict[str, Array]:
    """The greeks that follow from price, delta and F·φ(d1) (shared by both greeks paths)."""
    sqrt_t = np.sqrt(t)
    vega = d * pdf_f * sqrt_t
    gamma = d * pdf_f / (f * f * s)
    rate = -np.log(d) / t if r is None else r
    theta = rate * price - 0.5 * vega * (s / sqrt_t) / t
    return {
        "price": price,
        "delta": delta,
        "gamma": gamma,
        "vega": vega,
        "theta": theta,
        "rho": -t * price,
    }


def _classify(
    price: Array, f: Array, k: Array, t: Array, d: Array, call: NDArray[np.bool_]
) -> tuple[Array, Array, NDArray[np.int8]]:
    """Normalised OTM inputs ``(x ≤ 0, beta)``, the reason code of every option and
    ``e^{x/2}`` of the normalised ``x``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = np.log(f / k)
        beta = price / (d * np.sqrt(f * k))
        # e^{±x/2} by sqrt, not exp/sinh: numpy's transcendentals cost ~20x a multiply here.
        sqrt_fk_ratio = np.sqrt(f / k)
        two_sinh = sqrt_fk_ratio - 1.0 / sqrt_fk_ratio  # 2·sinh(x/2)
        intrinsic = np.where(call, two_sinh, -two_sinh)
        beta_otm = beta - np.maximum(intrinsic, 0.0)
        upper = np.minimum(sqrt_fk_ratio, 1.0 / sqrt_fk_ratio)  # max of the normalised OTM call
    valid = (
        (price > 0.0)
        & (t > 0.0)
        & (f > 0.0)
        & (k > 0.0)
        & (d > 0.0)
        & np.isfinite(price)
        & np.isfinite(t)
        & np.isfinite(f)
        & np.isfinite(k)
        & np.isfinite(d)
    )
    reason = np.full(price.shape, OK, dtype=np.int8)
    reason[~valid] = INVALID_INPUT
    reason[valid & ~(beta_otm > 0.0)] = BELOW_INTRINSIC
    reason[valid & (beta_otm > 0.0) & ~(beta_otm < upper)] = ABOVE_MAX
    return -np.abs(x), beta_otm, reason, upper


def _iv_chunk(
    price: Array,
    f: Array,
    k: Array,
    t: Array,
    d: Array,
    call: NDArray[np.bool_],
    tol: float,
    max_iter: int,
) -> tuple[Array, NDArray[np.bool_], NDArray[np.int8], Array, tuple[Array, ...], Array]:
    """Implied vol of one chunk: ``(vol, converged, reason, s, state, taylor)`` with the last
    full-precision pricing ``state`` and its usability mask from :func:`_solve_normalised`."""
    xo, beta, reason, ex = _classify(price, f, k, t, d, call)
    todo = reason == OK
    if todo.all():
        s, done, state, taylor = _solve_normalised(xo, beta, ex, tol, max_iter)
    else:
        sub, done_sub, state_sub, taylor_sub = _solve_normalised(
            xo[todo], beta[todo], ex[todo], tol, max_iter
        )
        s = np.full(price.shape, np.nan)
        s[todo] = sub
        done = np.zeros(price.shape, dtype=bool)
        done[todo] = done_sub
        taylor = np.zeros(price.shape, dtype=bool)
        taylor[todo] = taylor_sub
        state = tuple(np.full(price.shape, np.nan) for _ in state_sub)
        for full, part in zip(state, state_sub, strict=True):
            full[todo] = part
    reason[todo & ~done] = NO_CONVERGENCE
    s[~done] = np.nan
    taylor &= done
    with np.errstate(invalid="ignore"):
        vol = s / np.sqrt(t)
    return vol, done, reason, s, state, taylor


def _prepare(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    discount: ArrayLike,
    is_call: ArrayLike,
) -> list[Array]:
    return _broadcast(
        np.asarray(price, dtype=np.float64),
        np.asarray(forward, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
        np.asarray(discount, dtype=np.float64),
        np.asarray(is_call, dtype=bool),
    )


def implied_vol(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    discount: ArrayLike,
    is_call: ArrayLike,
    tol: float = 1e-12,
    max_iter: int = 20,
) -> IVResult:
    """Black-76 implied volatility of option prices (arrays broadcast; ``t`` in years).

    ``tol`` is the relative accuracy asked of the vol. Options without an implied vol get NaN,
    ``converged=False`` and a code from :data:`REASONS` in ``reason``.
    """
    return implied_vol_and_greeks(
        price, forward, strike, t, discount, is_call, tol=tol, max_iter=max_iter, with_greeks=False
    )[0]


def implied_vol_and_greeks(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    discount: ArrayLike,
    is_call: ArrayLike,
    rate: ArrayLike | None = None,
    tol: float = 1e-12,
    max_iter: int = 20,
    with_greeks: bool = True,
) -> tuple[IVResult, dict[str, Array]]:
    """Implied vol and the greeks at that vol (see :func:`greeks` for conventions) in one pass.

    Greeks are NaN where the vol is. The ``price`` greek is the model price at the solved vol
    (equal to the input price to ~1e-15 relative), kept as a check.
    """
    p, f, k, tt, d, call = _prepare(price, forward, strike, t, discount, is_call)
    shape = p.shape
    n = p.size
    r = None if rate is None else np.broadcast_to(np.asarray(rate, dtype=np.float64), shape)
    rflat = None if r is None else r.reshape(-1)
    vol = np.empty(n)
    conv = np.empty(n, dtype=bool)
    reason = np.empty(n, dtype=np.int8)
    out = {name: np.empty(n) for name in GREEKS} if with_greeks else {}
    flat = [a.reshape(-1) for a in (p, f, k, tt, d, call)]
    for lo in range(0, n, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        pc, fc, kc, tc, dc, cc = (a[sl] for a in flat)
        v, ok, why, s, state, taylor = _iv_chunk(pc, fc, kc, tc, dc, cc, tol, max_iter)
        vol[sl], conv[sl], reason[sl] = v, ok, why
        if with_greeks:
            rc = None if rflat is None else rflat[sl]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                res = _greeks_taylor(fc, kc, tc, s, dc, cc, rc, state)
                # Options that needed extra iterations are priced afresh at their final s.
                redo = np.flatnonzero(ok & ~taylor)
                if redo.size:
                    exact = _greeks_chunk(
                        fc[redo],
                        kc[redo],
                        tc[redo],
                        s[redo],
                        dc[redo],
                        cc[redo],
                        None if rc is None else rc[redo],
                    )
                    for name in GREEKS:
                        res[name][redo] = exact[name]
            for name in GREEKS:
                out[name][sl] = res[name]
    result = IVResult(vol.reshape(shape), conv.reshape(shape), reason.reshape(shape))
    return result, {name: a.reshape(shape) for name, a in out.items()}
