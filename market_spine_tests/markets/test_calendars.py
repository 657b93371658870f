"""Sessions and expected minute grids for CL, NG and ES against CME's 2024 holiday hours."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from market_spine.errors import InvalidRange, NotATradingDay, UnknownSymbol
from market_spine.markets import calendars
from market_spine.markets.calendars import (
    expected_minutes,
    is_trading_day,
    latest_sessions,
    require_session,
    session,
    session_at,
    sessions,
    trading_days,
)
from market_spine.markets.dates import parse_date

ET = ZoneInfo("America/New_York")
SYMBOLS = ("CL", "NG", "ES")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# (symbol, trade date) -> (open, close, minutes, early_close) in UTC; None = no session.
CASES: dict[tuple[str, str], tuple[str, str, int, bool] | None] = {
    # Good Friday 2024: all of CME closed (no payrolls that day).
    ("CL", "2024-03-29"): None,
    ("NG", "2024-03-29"): None,
    ("ES", "2024-03-29"): None,
    # Day before Independence Day: equity halts 12:15 CT, energy trades a full day.
    ("CL", "2024-07-03"): ("2024-07-02 22:00", "2024-07-03 21:00", 1380, False),
    ("NG", "2024-07-03"): ("2024-07-02 22:00", "2024-07-03 21:00", 1380, False),
    ("ES", "2024-07-03"): ("2024-07-02 22:00", "2024-07-03 17:15", 1155, True),
    # Day after Thanksgiving: the trade date also holds Thursday's holiday trading (to 13:30 CT
    # energy, 12:00 CT equity), then closes 12:45 CT energy, 12:15 CT equity.
    ("CL", "2024-11-29"): ("2024-11-27 23:00", "2024-11-29 18:45", 2415, True),
    ("NG", "2024-11-29"): ("2024-11-27 23:00", "2024-11-29 18:45", 2415, True),
    ("ES", "2024-11-29"): ("2024-11-27 23:00", "2024-11-29 18:15", 2295, True),
    # Christmas Eve: energy 12:45 CT (the reviewed table; the calendar has none), equity 12:15 CT.
    ("CL", "2024-12-24"): ("2024-12-23 23:00", "2024-12-24 18:45", 1185, True),
    ("NG", "2024-12-24"): ("2024-12-23 23:00", "2024-12-24 18:45", 1185, True),
    ("ES", "2024-12-24"): ("2024-12-23 23:00", "2024-12-24 18:15", 1155, True),
    # A normal Monday: opens Sunday 18:00 ET.
    ("CL", "2024-01-08"): ("2024-01-07 23:00", "2024-01-08 22:00", 1380, False),
    ("NG", "2024-01-08"): ("2024-01-07 23:00", "2024-01-08 22:00", 1380, False),
    ("ES", "2024-01-08"): ("2024-01-07 23:00", "2024-01-08 22:00", 1380, False),
}


@pytest.mark.parametrize(("key", "expected"), CASES.items(), ids=[" ".join(k) for k in CASES])
def test_reviewed_days(key: tuple[str, str], expected: tuple[str, str, int, bool] | None) -> None:
    symbol, day = key
    s = session(symbol, parse_date(day))
    if expected is None:
        assert s is None
        assert len(expected_minutes(symbol, parse_date(day))) == 0
        return
    open_, close, minutes, early = expected
    assert s is not None
    assert (s.open, s.close) == (utc(open_), utc(close))
    assert len(s.expected_minutes()) == minutes
    assert s.early_close is early


def test_a_reviewed_special_session_names_its_occasion_and_notice() -> None:
    s = session("CL", date(2024, 12, 24))
    assert s is not None and s.note == "Christmas Eve: CME Group Globex holiday calendar 2024"


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_sunday_evening_open_belongs_to_monday(symbol: str) -> None:
    assert session(symbol, date(2024, 1, 7)) is None  # Sunday is not a trade date
    ts = datetime(2024, 1, 7, 23, 0, tzinfo=UTC)
    s = session_at(symbol, ts)
    assert s is not None and s.trade_date == date(2024, 1, 8)
    assert s.expected_minutes()[0] == ts


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_no_minute_in_the_daily_maintenance_break(symbol: str) -> None:
    # Over a whole year, holidays included: no bar between 17:00 and 18:00 ET, and every
    # minute belongs to exactly one trade date, in order.
    grids = [s.expected_minutes() for s in sessions(symbol, date(2024, 1, 1), date(2024, 12, 31))]
    allm = grids[0].append(grids[1:])
    assert allm.is_monotonic_increasing and allm.is_unique
    assert str(allm.dtype) == "datetime64[ns, UTC]"
    assert not (allm.tz_convert(ET).hour == 17).any()


def test_full_normal_day_minute_count() -> None:
    assert len(expected_minutes("CL", date(2024, 5, 7))) == 23 * 60


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_christmas_has_no_session(symbol: str) -> None:
    assert session(symbol, date(2024, 12, 25)) is None
    assert not is_trading_day(symbol, date(2024, 12, 25))
    assert expected_minutes(symbol, date(2024, 12, 25)).empty


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_holiday_trading_belongs_to_the_next_trade_date(symbol: str) -> None:
    # July 4: Globex trades the morning, halts, reopens 17:00 CT, all for trade date July 5.
    assert session(symbol, date(2024, 7, 4)) is None
    s = session(symbol, date(2024, 7, 5))
    assert s is not None and s.open == utc("2024-07-03 22:00")
    assert len(s.breaks) == 1 and s.breaks[0][1] == utc("2024-07-04 22:00")
    assert s.contains(s.breaks[0][0]) and s.breaks[0][0] not in s.expected_minutes()


def test_es_had_an_afternoon_halt_before_june_2021() -> None:
    old = session("ES", date(2019, 6, 3))
    assert old is not None and old.breaks == ((utc("2019-06-03 20:15"), utc("2019-06-03 20:30")),)
    assert len(old.expected_minutes()) == 1380 - 15
    new = session("ES", date(2021, 6, 28))
    assert new is not None and new.breaks == ()


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_dst_week_open_shifts_from_23_to_22_utc(symbol: str) -> None:
    before = session(symbol, date(2024, 3, 8))
    after = session(symbol, date(2024, 3, 11))
    assert before is not None and after is not None
    assert before.open == utc("2024-03-07 23:00")
    assert after.open == utc("2024-03-10 22:00")
    assert len(before.expected_minutes()) == len(after.expected_minutes()) == 1380


def test_require_session_names_the_nearest_trading_days() -> None:
    with pytest.raises(NotATradingDay) as err:
        require_session("CL", date(2024, 3, 29))
    msg = str(err.value)
    assert "2024-03-28" in msg and "2024-04-01" in msg
    assert require_session("CL", date(2024, 4, 1)).trade_date == date(2024, 4, 1)


def test_unknown_symbol_and_reversed_range() -> None:
    with pytest.raises(UnknownSymbol):
        session("XX", date(2024, 1, 8))
    with pytest.raises(InvalidRange):
        sessions("CL", date(2024, 2, 1), date(2024, 1, 1))


def test_trading_days_skip_weekends_and_holidays() -> None:
    days = trading_days("CL", date(2024, 12, 20), date(2024, 12, 31))
    assert days == [
        date(2024, 12, 20),
        date(2024, 12, 23),
        date(2024, 12, 24),
        date(2024, 12, 26),
        date(2024, 12, 27),
        date(2024, 12, 30),
        date(2024, 12, 31),
    ]


def test_session_at() -> None:
    ts = datetime(2024, 1, 9, 15, 0, tzinfo=UTC)
    s = session_at("ES", ts)
    assert s is not None and s.trade_date == date(2024, 1, 9)
    assert s.contains(ts)
    # In the daily break, and on a Saturday, there is no session.
    assert session_at("ES", datetime(2024, 1, 9, 22, 30, tzinfo=UTC)) is None
    assert session_at("ES", datetime(2024, 1, 13, 12, 0, tzinfo=UTC)) is None
    # Close is exclusive; the next session's open is inclusive.
    assert session_at("CL", utc("2024-01-09 22:00")) is None
    after = session_at("CL", utc("2024-01-09 23:00"))
    assert after is not None and after.trade_date == date(2024, 1, 10)


def test_latest_sessions() -> None:
    now = datetime(2024, 1, 9, 15, 0, tzinfo=UTC)  # during Tuesday's session
    got = latest_sessions("CL", now, 3)
    assert [s.trade_date for s in got] == [date(2024, 1, 5), date(2024, 1, 8), date(2024, 1, 9)]
    # On Saturday the last opened session is Friday's.
    sat = latest_sessions("CL", datetime(2024, 1, 13, tzinfo=UTC), 1)
    assert [s.trade_date for s in sat] == [date(2024, 1, 12)]
    assert latest_sessions("CL", now, 0) == []
    assert len(latest_sessions("CL", now, 10)) == 10


def test_warm_lookups_are_fast() -> None:
    import time

    expected_minutes("CL", date(2024, 5, 7))
    start = time.perf_counter()
    for _ in range(100):
        session("CL", date(2024, 5, 7))
        expected_minutes("CL", date(2024, 5, 7))
    assert (time.perf_counter() - start) / 100 < 1e-3
    assert calendars._schedule.cache_info().currsize >= 1
