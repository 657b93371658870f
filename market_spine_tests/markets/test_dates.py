"""Parsing the dates and timestamps users type: accepted forms, and errors that show them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from market_spine.errors import InvalidDate, NoSuchDate
from market_spine.markets.dates import nth_weekday, on_or_before, parse_date, parse_point


def test_parse_date_accepts_common_forms() -> None:
    assert parse_date("2024-01-02") == date(2024, 1, 2)
    assert parse_date("20240102") == date(2024, 1, 2)
    assert parse_date(date(2024, 1, 2)) == date(2024, 1, 2)
    assert parse_date(datetime(2024, 1, 2, 15, 30)) == date(2024, 1, 2)


@pytest.mark.parametrize("bad", ["2024/01/02", "02-01-2024", "2024-2-3", "yesterday", ""])
def test_parse_date_errors_name_the_format(bad: str) -> None:
    with pytest.raises(InvalidDate, match="YYYY-MM-DD or YYYYMMDD"):
        parse_date(bad)


@pytest.mark.parametrize(
    "bad", ["٢٠٢٤-٠١-٠٢", "２０２４０１０２", "2024-01-0²", "2024-01-02T14:30:00Z"]
)
def test_parse_date_refuses_non_ascii_digits_and_timestamps(bad: str) -> None:
    with pytest.raises(InvalidDate, match="YYYY-MM-DD or YYYYMMDD"):
        parse_date(bad)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2024-02-30", "February 2024 has 29 days"),
        ("20230229", "February 2023 has 28 days"),
        ("2024-04-31", "April 2024 has 30 days"),
        ("2024-01-00", "January 2024 has 31 days"),
        ("2024-13-01", "there is no month 13"),
        ("0000-01-02", "years run from 0001 to 9999"),
    ],
)
def test_a_date_the_calendar_lacks_is_named_as_such(text: str, why: str) -> None:
    with pytest.raises(NoSuchDate, match=f"--date '{text}' does not exist: {why}") as refused:
        parse_date(text, "--date")
    # Then how to write a date, the forms of the caller: a whole date here.
    assert str(refused.value).endswith("--date takes YYYY-MM-DD or YYYYMMDD, e.g. 2024-01-02")
    assert refused.value.problem == f"--date '{text}' does not exist: {why}"
    with pytest.raises(NoSuchDate, match=why):
        parse_point(text, "start")
    if "-" in text:  # the date opening a timestamp
        with pytest.raises(NoSuchDate, match=why):
            parse_point(f"{text}T14:30:00Z", "start")


def test_parse_point_keeps_dates_and_makes_timestamps_utc() -> None:
    assert parse_point("2024-01-02") == date(2024, 1, 2)
    assert parse_point("2024-01-02T14:30:00Z") == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert parse_point("2024-01-02T14:30:00") == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    with pytest.raises(InvalidDate, match="outside ASCII"):
        parse_point("٢٠٢٤-٠١-٠٢")


def test_nth_weekday_and_the_open_day_on_or_before() -> None:
    assert nth_weekday(2024, 3, 4) == date(2024, 3, 15)  # third Friday
    assert nth_weekday(2024, 3, 2) == date(2024, 3, 20)  # third Wednesday
    assert nth_weekday(2024, 6, 4, n=1) == date(2024, 6, 7)
    good_friday = date(2024, 3, 29)
    assert on_or_before(good_friday, lambda d: d != good_friday) == date(2024, 3, 28)
    assert on_or_before(date(2024, 3, 28), lambda d: True) == date(2024, 3, 28)
