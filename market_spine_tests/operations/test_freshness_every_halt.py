"""The freshness rules across every halt of 2025 — each daily break, weekend, holiday halt and
closure of CL, NG and ES on Globex, and every night, weekend and holiday of the Cboe session for
SPX and SPXW: nothing owed goes stale while the market is halted, and the one-hour SLA applies
again from the reopen. The halts come from the sessions themselves, not from the clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise

import pandas as pd
import pytest

from market_spine.futures import freshness as futures
from market_spine.markets import calendars
from market_spine.markets.expirations import session_bounds
from market_spine.options import freshness as options

YEAR = 2025
MINUTE = timedelta(minutes=1)
SLA = timedelta(hours=1)
Halt = tuple[pd.Timestamp, pd.Timestamp]


def _globex_halts(root: str) -> list[tuple[Halt, pd.Timestamp]]:
    """Each (halt start, reopen) starting in YEAR, with the start of the next halt after it."""
    stretches: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for s in calendars.sessions(root, date(YEAR - 1, 12, 24), date(YEAR + 1, 1, 10)):
        start = s.open
        for b0, b1 in sorted(s.breaks):
            stretches.append((start, b0))
            start = b1
        stretches.append((start, s.close))
    halts = [(a[1], b[0]) for a, b in pairwise(stretches)]
    return [(halt, nxt[0]) for halt, nxt in pairwise(halts) if halt[0].year == YEAR]


def _cboe_halts() -> list[tuple[date, date, Halt]]:
    """Each (trading day, next trading day, (its close, the next open)) of YEAR."""
    days = [date(YEAR, 1, 1) + timedelta(days=i) for i in range(380)]
    trading = [(d, b) for d in days if (b := session_bounds(d)) is not None]
    return [
        (d, n, (pd.Timestamp(b[1]), pd.Timestamp(nb[0])))
        for (d, b), (n, nb) in pairwise(trading)
        if d.year == YEAR
    ]


GLOBEX = [(root, *h) for root in ("CL", "NG", "ES") for h in _globex_halts(root)]
CBOE = [(root, *h) for root in ("SPX", "SPXW") for h in _cboe_halts()]


def _futures_lag(root: str, captured_to: pd.Timestamp, now: pd.Timestamp) -> tuple[bool, float]:
    """The rule at `now` on a lake holding every bar before `captured_to`."""
    owed = futures.sessions_owed([root], now)
    session = owed[root]
    newest = min(captured_to, session.close) - MINUTE if session.open < captured_to else None
    outcome = futures.freshness(futures.NewestBars(now, owed, {root: newest}))
    return outcome.passed, outcome.metadata["lag_minutes"][root]


@pytest.mark.parametrize(
    ("root", "halt", "next_halt"), GLOBEX, ids=[f"{r}-{h[0]:%m-%dT%H:%M}" for r, h, _ in GLOBEX]
)
def test_globex_freshness_stops_in_the_halt_and_restarts_at_the_reopen(
    root: str, halt: Halt, next_halt: pd.Timestamp
) -> None:
    start, reopen = halt
    for now in (start + MINUTE, start + (reopen - start) / 2, reopen - MINUTE):
        assert _futures_lag(root, start, now) == (True, 1.0), now
    assert reopen + SLA + MINUTE < next_halt  # the SLA lapses before the market halts again
    assert _futures_lag(root, start, reopen + SLA - MINUTE)[0]
    passed, lag = _futures_lag(root, start, reopen + SLA + MINUTE)
    assert not passed and lag > 60


def test_the_year_has_every_kind_of_globex_halt() -> None:
    es = {h[0] for r, h, _ in GLOBEX if r == "ES"}
    lengths = {h[1] - h[0] for r, h, _ in GLOBEX if r == "ES"}
    assert pd.Timestamp("2025-11-27T18:00Z") in es  # Thanksgiving, 12:00 CT
    assert pd.Timestamp("2025-07-04T17:00Z") in es  # a Friday holiday: to Sunday
    assert timedelta(hours=1) in lengths  # the daily break
    assert timedelta(hours=49) in lengths  # a weekend
    assert len(es) > 250


def _chain_lag(root: str, newest: date, now: pd.Timestamp) -> tuple[bool, float]:
    outcome = options.chain_freshness(options.NewestChain(now.to_pydatetime(), {root: newest}))
    return outcome.passed, outcome.metadata["lag_minutes"][root]


@pytest.mark.parametrize(
    ("root", "day", "next_day", "halt"), CBOE, ids=[f"{r}-{d}" for r, d, _, _ in CBOE]
)
def test_cboe_chain_freshness_stops_overnight_and_restarts_at_the_open(
    root: str, day: date, next_day: date, halt: Halt
) -> None:
    close, reopen = halt
    before = day - timedelta(days=1)  # the chains of `day` are not stored yet
    for now in (close + MINUTE, close + (reopen - close) / 2, reopen - MINUTE):
        assert _chain_lag(root, before, now) == (True, 0.0), now
    assert _chain_lag(root, before, reopen + SLA - MINUTE) == (True, 59.0)
    assert _chain_lag(root, before, reopen + SLA + MINUTE) == (False, 61.0)
    assert _chain_lag(root, day, reopen + SLA + MINUTE) == (True, 0.0)
    del next_day


def test_the_year_has_every_cboe_closure() -> None:
    gaps = {d: n for _, d, n, _ in CBOE}
    assert gaps[date(2025, 7, 3)] == date(2025, 7, 7)  # Independence Day, a Friday
    assert gaps[date(2025, 4, 17)] == date(2025, 4, 21)  # Good Friday
    assert gaps[date(2025, 11, 26)] == date(2025, 11, 28)  # Thanksgiving
    assert len(gaps) > 245


def test_a_stale_session_stays_stale_through_the_halt_and_is_forgiven_at_the_reopen() -> None:
    # ES bars stop at 12:00 CT on a Friday: red from 13:00 CT, still red all weekend (the clock
    # is frozen at the close), and Monday's session owes its own bars from the Sunday open.
    stopped = pd.Timestamp("2025-06-13T17:00Z")
    assert _futures_lag("ES", stopped, pd.Timestamp("2025-06-14T12:00Z")) == (False, 241.0)
    assert _futures_lag("ES", stopped, pd.Timestamp("2025-06-15T22:30Z")) == (True, 30.0)


def test_a_session_without_bars_is_stale_after_an_hour_of_trading() -> None:
    now = datetime.fromisoformat("2025-06-10T15:00:00+00:00")
    owed = futures.sessions_owed(["CL"], now)
    outcome = futures.freshness(futures.NewestBars(now, owed, {"CL": None}))
    assert not outcome.passed
    assert outcome.metadata["lag_minutes"] == {"CL": 17 * 60.0}  # since Monday 17:00 CT


def test_a_backfill_of_past_days_owes_no_chain_but_a_run_through_the_owed_day_does() -> None:
    """Monday 2026-11-30 16:00 UTC, 90 open minutes after the reopen: Friday's chain is owed.
    A run loading 2024-11-27..29 owes nothing for it; a run loading Friday and missing it is
    stale."""
    now = datetime.fromisoformat("2026-11-30T16:00:00+00:00")
    past = (date(2024, 11, 27), date(2024, 11, 29))
    through_friday = (date(2026, 11, 23), date(2026, 11, 27))
    newest = {"SPX": date(2024, 11, 29)}
    assert options.chain_freshness(options.NewestChain(now, newest, past)).passed
    stale = options.chain_freshness(options.NewestChain(now, newest, through_friday))
    assert not stale.passed and stale.metadata["stale_roots"] == "SPX"
    assert not options.chain_freshness(options.NewestChain(now, newest)).passed
