"""The open-market clock against CME Globex and Cboe hours of 2025 (times in UTC): it stops in
breaks, holiday halts, weekends and closures and counts only trading time."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pandas as pd
import pytest

from market_spine.errors import UnknownSymbol
from market_spine.markets.open_time import is_open, open_between, open_intervals


def minutes(root: str, start: str, end: str) -> float:
    return open_between(root, pd.Timestamp(start), pd.Timestamp(end)).total_seconds() / 60


# (root, start, end) -> open minutes between them, from the exchanges' published hours.
CASES: dict[tuple[str, str, str], float] = {
    # A Tuesday's daily maintenance break, 16:00-17:00 CT (21:00-22:00 UTC in summer).
    ("ES", "2025-06-10T20:59Z", "2025-06-10T22:01Z"): 2,
    ("CL", "2025-06-10T20:59Z", "2025-06-10T22:01Z"): 2,
    ("NG", "2025-06-10T21:00Z", "2025-06-10T22:00Z"): 0,
    # A weekend: Friday 16:00 CT close to Sunday 17:00 CT open.
    ("ES", "2025-03-14T20:00Z", "2025-03-16T23:00Z"): 60 + 60,
    # Thanksgiving: ES halts 12:00 CT, CL/NG 13:30 CT, all reopen 17:00 CT.
    ("ES", "2025-11-27T17:00Z", "2025-11-27T23:30Z"): 60 + 30,
    ("CL", "2025-11-27T17:00Z", "2025-11-27T23:30Z"): 150 + 30,
    ("NG", "2025-11-27T19:30Z", "2025-11-27T23:00Z"): 0,
    # Independence Day on a Friday: Globex halts at noon CT until Sunday's 17:00 CT open.
    ("ES", "2025-07-04T16:59Z", "2025-07-06T22:01Z"): 2,
    ("CL", "2025-07-04T18:29Z", "2025-07-06T22:01Z"): 2,
    # Good Friday: every CME market closed from Thursday's close to Sunday's open.
    ("ES", "2025-04-17T21:00Z", "2025-04-20T22:00Z"): 0,
    ("CL", "2025-04-17T20:00Z", "2025-04-20T22:00Z"): 60,
    # Christmas: ES closes 12:15 CT on the 24th, reopens 17:00 CT on the 25th.
    ("ES", "2025-12-24T18:14Z", "2025-12-25T23:01Z"): 2,
    # Cboe: an SPX day session 09:30-16:15 ET, the night and a holiday weekend closed.
    ("SPX", "2025-06-10T13:00Z", "2025-06-10T21:00Z"): 405,
    ("SPXW", "2025-06-10T20:14Z", "2025-06-11T13:31Z"): 2,
    # Independence Day 2025: July 3 closes 13:15 ET, closed Friday and the weekend.
    ("SPX", "2025-07-03T17:14Z", "2025-07-07T13:31Z"): 2,
    # Thanksgiving closed, the Friday after closes early (13:15 ET).
    ("SPXW", "2025-11-26T21:14Z", "2025-11-28T14:31Z"): 2,
    ("SPX", "2025-11-28T18:14Z", "2025-12-01T14:31Z"): 2,
}


@pytest.mark.parametrize(("case", "expected"), CASES.items(), ids=[" ".join(c[:2]) for c in CASES])
def test_open_minutes_match_the_published_hours(
    case: tuple[str, str, str], expected: float
) -> None:
    assert minutes(*case) == expected


def test_a_globex_week_trades_23_hours_a_day() -> None:
    # Sunday 17:00 CT to Friday 16:00 CT, less four daily breaks: 5 x 23 hours.
    assert minutes("ES", "2025-06-08T00:00Z", "2025-06-14T00:00Z") == 5 * 23 * 60


def test_intervals_are_clipped_ordered_and_disjoint() -> None:
    found = open_intervals("ES", "2025-11-26T12:00Z", "2025-12-01T12:00Z")
    assert found[0][0] == pd.Timestamp("2025-11-26T12:00Z")
    assert found[-1][1] == pd.Timestamp("2025-12-01T12:00Z")
    assert all(a < b for a, b in found)
    assert all(prev[1] < nxt[0] for prev, nxt in pairwise(found))


def test_is_open_knows_breaks_and_halts() -> None:
    assert is_open("ES", datetime.fromisoformat("2025-11-27T17:59:00+00:00"))
    assert not is_open("ES", datetime.fromisoformat("2025-11-27T18:00:00+00:00"))
    assert not is_open("CL", pd.Timestamp("2025-06-10T21:30Z"))
    assert is_open("SPX", pd.Timestamp("2025-06-10T14:30Z"))
    assert not is_open("SPXW", pd.Timestamp("2025-07-04T15:00Z"))


def test_an_empty_or_reversed_span_has_no_open_time() -> None:
    t = pd.Timestamp("2025-06-10T15:00Z")
    assert open_between("ES", t, t) == timedelta(0)
    assert open_between("ES", t, t - timedelta(hours=1)) == timedelta(0)


def test_naive_instants_are_utc() -> None:
    naive = open_between("ES", datetime(2025, 11, 27, 17), datetime(2025, 11, 27, 23, 30))
    assert naive == timedelta(minutes=90)


def test_an_unknown_root_is_refused() -> None:
    with pytest.raises(UnknownSymbol):
        open_between("ZZ", "2025-06-10T15:00Z", "2025-06-10T16:00Z")
