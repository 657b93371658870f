"""What `up` loads: each market's last sessions on its own calendar, so a load before the Cboe
open (a Monday's early hours in UTC, say) still takes the last chains instead of refusing, and
each market's last closed session, which its freshness check owes, whatever the hour."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from market_spine.cli.platform import load_ranges
from market_spine.futures.freshness import sessions_owed
from market_spine.markets.calendars import latest_sessions
from market_spine.markets.expirations import opened_trading_days
from market_spine.options.freshness import last_closed_session

ROOTS = ("CL", "ES", "NG")


def test_a_monday_load_before_the_cboe_open_takes_fridays_chains() -> None:
    # 05:00 UTC Monday: CME's Monday session opened on Sunday evening; Cboe opens at 14:30 UTC.
    futures, options = load_ranges(ROOTS, datetime(2026, 11, 30, 5, 0, tzinfo=UTC), 1)
    # Friday's session, the last closed one, comes with the one trading now.
    assert futures == (date(2026, 11, 27), date(2026, 11, 30))
    assert options == (date(2026, 11, 27), date(2026, 11, 27))


def test_during_the_cboe_session_the_last_closed_chain_comes_with_the_days() -> None:
    # Monday 15:00 UTC: today's chains have opened, Friday's are the ones the SLA owes.
    futures, options = load_ranges(ROOTS, datetime(2026, 11, 30, 15, 0, tzinfo=UTC), 1)
    assert futures == options == (date(2026, 11, 27), date(2026, 11, 30))


#: Clocks a first `up` may start at: a weekday in the Cboe session, a Monday morning before
#: it, a weekend, an evening after both closes, a holiday (Thanksgiving).
CLOCKS = [
    (datetime(2026, 12, 1, 15, 0, tzinfo=UTC), (date(2026, 11, 30), date(2026, 12, 1))),
    (datetime(2026, 11, 30, 13, 0, tzinfo=UTC), (date(2026, 11, 27), date(2026, 11, 27))),
    (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), (date(2026, 11, 27), date(2026, 11, 27))),
    (datetime(2026, 12, 1, 23, 0, tzinfo=UTC), (date(2026, 12, 1), date(2026, 12, 1))),
    (datetime(2026, 11, 26, 16, 0, tzinfo=UTC), (date(2026, 11, 25), date(2026, 11, 25))),
]


@pytest.mark.parametrize(("now", "chains"), CLOCKS)
@pytest.mark.parametrize("days", [1, 2])
def test_a_load_covers_what_the_freshness_checks_owe_at_any_hour(
    now: datetime, chains: tuple[date, date], days: int
) -> None:
    futures, options = load_ranges(ROOTS, now, days)
    if days == 1:
        assert options == chains
    assert options is not None and options[0] <= last_closed_session(now) <= options[1]
    for session in sessions_owed(ROOTS, now).values():
        assert futures[0] <= session.trade_date <= futures[1]
    for root in ROOTS:
        closed = [s for s in latest_sessions(root, now, 2) if s.close <= now]
        assert futures[0] <= closed[-1].trade_date <= futures[1]


@pytest.mark.parametrize(
    ("now", "days", "expected"),
    [
        # Thanksgiving (Thursday 26th) is closed; the Friday after is an early close.
        (
            datetime(2026, 11, 30, 5, 0, tzinfo=UTC),
            3,
            [date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27)],
        ),
        # New Year's Day closed: the last two days of 2026 and the first of 2027 after it.
        (
            datetime(2027, 1, 4, 15, 0, tzinfo=UTC),
            3,
            [date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 4)],
        ),
        (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), 0, []),
    ],
)
def test_opened_trading_days_skip_holidays_and_unopened_sessions(
    now: datetime, days: int, expected: list[date]
) -> None:
    assert opened_trading_days(now, days) == expected
