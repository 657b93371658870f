"""What `up` loads: each market's last sessions on its own calendar, so a load before the Cboe
open (a Monday's early hours in UTC, say) still takes the last chains instead of refusing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from market_spine.cli.platform import load_ranges
from market_spine.markets.expirations import opened_trading_days

ROOTS = ("CL", "ES", "NG")


def test_a_monday_load_before_the_cboe_open_takes_fridays_chains() -> None:
    # 05:00 UTC Monday: CME's Monday session opened on Sunday evening; Cboe opens at 14:30 UTC.
    futures, options = load_ranges(ROOTS, datetime(2026, 11, 30, 5, 0, tzinfo=UTC), 1)
    assert futures == (date(2026, 11, 30), date(2026, 11, 30))
    assert options == (date(2026, 11, 27), date(2026, 11, 27))


def test_after_the_cboe_open_the_days_chains_are_owed() -> None:
    futures, options = load_ranges(ROOTS, datetime(2026, 11, 30, 15, 0, tzinfo=UTC), 1)
    assert futures == options == (date(2026, 11, 30), date(2026, 11, 30))


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
