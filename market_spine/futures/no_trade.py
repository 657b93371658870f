"""Telling a quiet market from lost data: how likely a run of minutes without a trade is, given
the trading around it.

Per-minute trade counts are overdispersed: busy and idle minutes alternate far more than a
Poisson process at one rate allows (a liquid contract may print 10 trades one minute and 110
the next). So the rate of a minute is modelled as lognormal, with the centre and spread of the
neighbouring minutes' log counts; a minute prints nothing with probability
E[exp(-rate)] under that law. A run of absent minutes is missing data when that probability,
raised to the run's length, is below `MIN_LOG_PROB` (or when the run is longer than any market
sits silent inside a session).
"""

from __future__ import annotations

import math

import numpy as np

#: Neighbouring minutes on each side whose trade counts describe the local activity.
RATE_WINDOW_MINUTES = 30
#: Fewer neighbouring minutes than this say too little: the run is taken as no-trade.
MIN_NEIGHBOURS = 5
#: No market sits silent this long inside a session: such a run is missing whatever the rate.
MAX_NO_TRADE_RUN = 30
#: An absent run less likely than e^-24 under the local activity is missing data. Genuine quiet
#: runs of the simulated market stay above e^-17 over 24 contract-years; one lost minute of a
#: busy hour (~600 trades a minute, log p ~ -37) or two of a moderate one (~40, ~ -14 each)
#: fall below.
MIN_LOG_PROB = -24.0
#: Least spread (of log trade counts) assumed: a few neighbours can look more regular than a
#: market is.
MIN_LOG_SPREAD = 0.25
_MINUTE_NS = 60_000_000_000
# Quadrature grid for E[exp(-rate)] over a standard normal: wide enough for the far tail that
# decides whether a busy market can print nothing.
_Z = np.linspace(-9.0, 9.0, 721)
_LOG_WEIGHT = -0.5 * _Z**2 - 0.5 * math.log(2 * math.pi) + math.log(_Z[1] - _Z[0])


def log_prob_silent_minute(counts: np.ndarray) -> float:
    """Natural log of the chance that one minute prints no trade, when neighbouring minutes
    printed `counts` trades (absent neighbours as 0)."""
    logs = np.log(np.asarray(counts, dtype=np.float64) + 0.5)
    centre = float(np.median(logs))
    spread = max(1.4826 * float(np.median(np.abs(logs - centre))), MIN_LOG_SPREAD)
    terms = _LOG_WEIGHT - np.exp(centre + spread * _Z)
    top = float(terms.max())
    return top + math.log(float(np.exp(terms - top).sum()))


def neighbour_counts(
    start: int, length: int, grid: np.ndarray, ts: np.ndarray, trades: np.ndarray
) -> np.ndarray:
    """Trade counts of the expected minutes within `RATE_WINDOW_MINUTES` of an absent run, the
    run itself left out and other absent minutes counted as 0. `grid` and `ts` are sorted ns
    minute stamps (expected, present); `trades` is aligned with `ts`."""
    lo = start - RATE_WINDOW_MINUTES * _MINUTE_NS
    hi = start + (length + RATE_WINDOW_MINUTES) * _MINUTE_NS
    minutes = int(np.searchsorted(grid, hi) - np.searchsorted(grid, lo)) - length
    present = trades[np.searchsorted(ts, lo) : np.searchsorted(ts, hi)]
    return np.concatenate((present, np.zeros(max(0, minutes - present.size))))


def is_missing(
    start: int, length: int, grid: np.ndarray, ts: np.ndarray, trades: np.ndarray
) -> bool:
    """Whether an absent run of `length` minutes from `start` (ns) is lost data rather than a
    market that did not trade (arguments as `neighbour_counts`)."""
    if length > MAX_NO_TRADE_RUN:
        return True
    counts = neighbour_counts(start, length, grid, ts, trades)
    if counts.size < MIN_NEIGHBOURS:
        return False
    return length * log_prob_silent_minute(counts) < MIN_LOG_PROB
