"""When a trade date's data is final: the futures session close (early closes included) and
17:15 ET for option EOD chains."""

from __future__ import annotations

from datetime import UTC, date, datetime

from market_spine.markets.calendars import data_final_at
from market_spine.markets.expirations import eod_final_at


def test_futures_data_is_final_at_the_session_close() -> None:
    assert data_final_at("CL", date(2024, 3, 5)) == datetime(2024, 3, 5, 22, 0, tzinfo=UTC)
    assert data_final_at("ES", date(2024, 7, 3)) == datetime(2024, 7, 3, 17, 15, tzinfo=UTC)


def test_an_early_close_makes_the_data_final_early() -> None:
    # Christmas Eve 2025: CL closes at 12:45 CT.
    assert data_final_at("CL", date(2025, 12, 24)) == datetime(2025, 12, 24, 18, 45, tzinfo=UTC)


def test_a_day_without_a_session_is_final_at_its_central_midnight() -> None:
    assert data_final_at("CL", date(2024, 3, 9)) == datetime(2024, 3, 10, 6, 0, tzinfo=UTC)


def test_option_eod_chains_are_final_at_17_15_eastern() -> None:
    assert eod_final_at(date(2024, 3, 5)) == datetime(2024, 3, 5, 22, 15, tzinfo=UTC)
    assert eod_final_at(date(2024, 7, 3)) == datetime(2024, 7, 3, 21, 15, tzinfo=UTC)  # EDT
