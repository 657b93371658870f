"""Black-76 implied volatility, fast *and* exact (max error ≤ 1e-10 in vol against QuantLib).

* Normalise (see :mod:`market_spine.pricing.model`): every contract becomes an OTM call at
  ``x ≤ 0`` with ``0 < β < e^{x/2}``; prices outside that band have no implied vol.
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

from market_spine.pricing.chunks import chunks, flat_inputs, part
from market_spine.pricing.model import GREEKS, Contracts, greeks_at, greeks_near, otm_call
from market_spine.pricing.normal import CHEB_TERMS, INV_SQRT2PI, SQRT2PI

Array = NDArray[np.float64]

#: Reason codes of :class:`IVResult` (``reason`` array), by value.
OK = 0
BELOW_INTRINSIC = 1
ABOVE_MAX = 2
INVALID_INPUT = 3
NO_CONVERGENCE = 4
NO_PRICE = 5
NO_TIME_LEFT = 6
REASONS: dict[int, str] = {
    OK: "ok",
    BELOW_INTRINSIC: "price at or below discounted intrinsic value (no time value)",
    ABOVE_MAX: "price at or above the upper bound (D·F for a call, D·K for a put)",
    INVALID_INPUT: "non-positive price or time (or non-positive/non-finite forward, strike, "
    "discount)",
    NO_CONVERGENCE: "solver did not converge within max_iter",
    NO_PRICE: "no price to solve (NaN), e.g. a quote missing its bid or its offer has no mid",
    NO_TIME_LEFT: "no time left: the contract settles at or before the price (an expiring "
    "contract on its last day)",
}

#: erfcx term counts of the two fixed leading steps: from the initial guess (≤150% off) one
#: step reaches ~1%, the next ~1e-8 (so ~1e-6-accurate prices suffice); a third, full-precision
#: step then lands on machine precision, and only options whose third step is still large
#: iterate further.
_CHEAP_TERMS = (8, 12)
#: Largest relative last step after which the greeks are Taylor-expanded from the last pricing
#: instead of re-priced (third order: the remainder is ~(step·|x|/s²)⁴, far below 1e-16).
_TAYLOR_STEP = 1e-6
#: Ulps of the normalised terms within which a price counts as at a bound of the no-arbitrage
#: band (discounted intrinsic below, D·F or D·K above): for F = 5000, K = 4005 that is ~2e-11
#: index points, far below a tick and below a time value of 1e-9, which still solves.
_BOUND_ULPS = 8.0
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class IVResult:
    """Implied vols with per-option status: ``vol`` is NaN wherever ``converged`` is False."""

    vol: Array
    converged: NDArray[np.bool_]
    reason: NDArray[np.int8]


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
    """Implied vol and the greeks at that vol (see :func:`market_spine.pricing.black.greeks` for
    conventions) in one pass.

    Greeks are NaN where the vol is. The ``price`` greek is the model price at the solved vol
    (equal to the input price to ~1e-15 relative), kept as a check.
    """
    shape, (p, f, k, tt, d), call, r = flat_inputs(
        price, forward, strike, t, discount, flag=is_call, rate=rate
    )
    n = p.size
    vol = np.empty(n)
    conv = np.empty(n, dtype=bool)
    reason = np.empty(n, dtype=np.int8)
    out = {name: np.empty(n) for name in GREEKS} if with_greeks else {}
    for sl in chunks(n):
        v, ok, why, s, state, taylor = _iv_chunk(
            p[sl], f[sl], k[sl], tt[sl], d[sl], call[sl], tol, max_iter
        )
        vol[sl], conv[sl], reason[sl] = v, ok, why
        if with_greeks:
            contracts = Contracts.of(f[sl], k[sl], tt[sl], d[sl], call[sl], part(r, sl))
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                res = greeks_near(contracts, s, state)
                # Options that needed extra iterations are priced afresh at their final s.
                redo = np.flatnonzero(ok & ~taylor)
                if redo.size:
                    exact = greeks_at(contracts.take(redo), s[redo])
                    for name in GREEKS:
                        res[name][redo] = exact[name]
            for name in GREEKS:
                out[name][sl] = res[name]
    result = IVResult(vol.reshape(shape), conv.reshape(shape), reason.reshape(shape))
    return result, {name: a.reshape(shape) for name, a in out.items()}


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
        for full, sub_part in zip(state, state_sub, strict=True):
            full[todo] = sub_part
    reason[todo & ~done] = NO_CONVERGENCE
    s[~done] = np.nan
    taylor &= done
    with np.errstate(invalid="ignore"):
        vol = s / np.sqrt(t)
    return vol, done, reason, s, state, taylor


def _classify(
    price: Array, f: Array, k: Array, t: Array, d: Array, call: NDArray[np.bool_]
) -> tuple[Array, Array, NDArray[np.int8], Array]:
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
        # What rounding of the normalisation can leave of a price exactly at a bound: a few ulps
        # of the terms β, e^{x/2} and e^{−x/2} (measured: under one). Inside it there is no time
        # value (or no room below the maximum) to solve for, only rounding noise.
        slack = _BOUND_ULPS * _EPS * (beta + sqrt_fk_ratio + 1.0 / sqrt_fk_ratio)
        has_time_value = beta_otm > np.where(intrinsic > 0.0, slack, 0.0)
        below_max = beta_otm < upper - slack
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
    reason[np.isnan(price)] = NO_PRICE
    # An expiring contract has no vol whatever its price: say so rather than "invalid".
    reason[np.isfinite(t) & (t <= 0.0)] = NO_TIME_LEFT
    reason[valid & ~has_time_value] = BELOW_INTRINSIC
    reason[valid & has_time_value & ~below_max] = ABOVE_MAX
    return -np.abs(x), beta_otm, reason, upper


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
    s_cm = SQRT2PI / (ex + 1.0 / ex) * (a + np.sqrt(disc))
    s0 = np.maximum(s_low, s_cm)
    return np.where(np.isfinite(s0) & (s0 > 0.0), s0, 1.0)


def _householder(
    x: Array, s: Array, ex: Array, log_beta: Array, terms: int
) -> tuple[Array, Array, tuple[Array, Array, Array, Array]]:
    """One Householder(3) step on ``ln c(s) − ln β``: ``(new s, step, (c, E, g1, g2) at s)``,
    the new ``s`` kept inside ``(s/4, 4s)`` so that a wild step cannot leave the domain."""
    c, e, g1, g2 = otm_call(x, s, ex, terms)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = e * INV_SQRT2PI / c  # f' = c'/c
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


def _solve_normalised(
    x: Array, beta: Array, ex: Array, tol: float, max_iter: int
) -> tuple[Array, Array, tuple[Array, ...], Array]:
    """``s`` with ``c(x, s) = beta`` (x ≤ 0, 0 < beta < e^{x/2}), the converged mask, the
    full-precision pricing ``(s_prev, c, E, g1, g2)`` one small step before ``s`` and the mask
    of the options for which that pricing is usable (see
    :func:`market_spine.pricing.model.greeks_near`). ``ex`` is ``e^{x/2}``."""
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
        s, step, priced = _householder(x, prev, ex, log_beta, CHEB_TERMS)
        state = (prev, *priced)
        step_size = np.abs(step)
        done = step_size <= stop * prev
        taylor = step_size <= _TAYLOR_STEP * prev
    idx = np.flatnonzero(~done)
    xi, si, lbi, exi = x[idx], s[idx], log_beta[idx], ex[idx]
    for _ in range(max_iter - 1 - len(_CHEAP_TERMS[: max_iter - 1])):
        if idx.size == 0:
            break
        new, step, _ = _householder(xi, si, exi, lbi, CHEB_TERMS)
        s[idx] = new
        ok = np.abs(step) <= stop * si
        done[idx[ok]] = True
        keep = ~ok
        idx, xi, si, lbi, exi = idx[keep], xi[keep], new[keep], lbi[keep], exi[keep]
    return s, done, state, taylor
