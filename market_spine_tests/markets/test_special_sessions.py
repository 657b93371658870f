"""The sessions the platform computes agree with the reviewed special-sessions table, row by row
and day by day, for every futures root and for the Cboe index-options session."""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path

import pytest

from market_spine.errors import InvalidInput
from market_spine.futures import checks
from market_spine.markets import calendars, expirations, special_sessions
from market_spine.markets.special_sessions import (
    FIRST_YEAR,
    FUTURES_ROOTS,
    LAST_YEAR,
    MARKETS,
    OPTIONS_MARKET,
)
from market_spine.providers.file import read_bars

DATA = Path(__file__).parents[1] / "data"
CT = calendars.CHICAGO
Status = tuple[str, time | None] | None  # (kind, Central time), None for a regular day


def _ct_clock(ts: object) -> time:
    import pandas as pd

    return pd.Timestamp(ts).tz_convert(CT).time()


def _futures_status(root: str, d: date) -> Status:
    """What the platform's sessions say of weekday `d`, in the table's vocabulary."""
    s = calendars.session(root, d)
    if s is not None:
        if s.open > calendars._ct(d - timedelta(days=1), time(17)):
            return ("late_open", _ct_clock(s.open))
        return ("early_close", _ct_clock(s.close)) if s.early_close else None
    nxt = next(
        (n for i in range(1, 6) if (n := calendars.session(root, d + timedelta(days=i)))), None
    )
    halted = [b for b in (nxt.breaks if nxt else ()) if b[0].tz_convert(CT).date() == d]
    return ("holiday_halt", _ct_clock(halted[0][0])) if halted else ("closed", None)


def _options_status(d: date) -> Status:
    bounds = expirations.session_bounds(d)
    if bounds is None:
        return ("closed", None)
    open_, close = (_ct_clock(b) for b in bounds)
    if open_ > time(8, 30):
        return ("late_open", open_)
    return ("early_close", close) if close < time(15, 15) else None


def _status(market: str, d: date) -> Status:
    return _options_status(d) if market == OPTIONS_MARKET else _futures_status(market, d)


def _weekdays() -> list[date]:
    d, end, out = date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31), []
    while d <= end:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


ROWS = [row for m in MARKETS for row in special_sessions.for_market(m).values()]


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.market} {r.day} {r.kind}" for r in ROWS])
def test_the_platform_keeps_each_reviewed_day(row: special_sessions.SpecialSession) -> None:
    assert _status(row.market, row.day) == (row.kind, row.time), row.source


@pytest.mark.parametrize("market", MARKETS)
def test_every_other_weekday_is_a_regular_session(market: str) -> None:
    """The table is complete: no early close, halt or closure in the audited years lacks a row."""
    listed = special_sessions.for_market(market)
    unlisted = {d: st for d in _weekdays() if d not in listed and (st := _status(market, d))}
    assert unlisted == {}


def test_the_table_covers_every_root_and_year() -> None:
    for market in MARKETS:
        years = {d.year for d in special_sessions.for_market(market)}
        assert years == set(range(FIRST_YEAR, LAST_YEAR + 1)), market
    assert all(row.source.strip() for row in ROWS)


def test_energy_closes_early_on_every_christmas_eve_it_trades() -> None:
    for root in ("CL", "NG"):
        for year in (2019, 2020, 2024, 2025, 2026):
            s = calendars.session(root, date(year, 12, 24))
            assert s is not None and s.early_close and _ct_clock(s.close) == time(12, 45)
            assert "Christmas Eve" in s.note


def test_christmas_eve_2025_case_passes_completeness() -> None:
    """Every real minute of CL's Christmas Eve 2025 (to 12:44 CT): nothing is missing."""
    s = calendars.session("CL", date(2025, 12, 24))
    assert s is not None and s.early_close
    assert s.close.tz_convert(CT).time() == time(12, 45)
    assert len(s.expected_minutes()) == 1185
    bars = read_bars(DATA / "cl_2025-12-24_xmas_eve.csv", "CL").bars
    assert bars["trade_date"].unique().to_list() == [date(2025, 12, 24)]
    outcome = checks.completeness(bars, [("CL", date(2025, 12, 24))])
    assert outcome.passed, outcome.metadata
    assert outcome.metadata["expected_bars"] == outcome.metadata["present_bars"] == 1185
    assert outcome.metadata["missing_minutes"] == 0


def test_the_day_of_mourning_halts_equity_only() -> None:
    carter = date(2025, 1, 9)
    es = calendars.session("ES", carter)
    assert es is not None and _ct_clock(es.close) == time(8, 30) and es.early_close
    assert len(es.expected_minutes()) == 15 * 60 + 30
    for root in ("CL", "NG"):
        s = calendars.session(root, carter)
        assert s is not None and not s.early_close
    assert not expirations.is_trading_day(carter)


def test_a_bad_row_is_refused_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = "market,date,kind,time_ct,occasion,source\n"
    bad = {
        "CL,2025-12-24,early_close,,Christmas Eve,notice": "needs a time_ct",
        "CL,2025-12-25,closed,,Christmas Day,": "exchange notice",
        "XX,2025-12-25,closed,,Christmas Day,notice": "market 'XX'",
        "CL,2025-12-27,closed,,Saturday,notice": "not a weekday",
        "SPX,2025-07-04,holiday_halt,12:00,Independence Day,notice": "CME",
    }
    for row, message in bad.items():
        path = tmp_path / "special_sessions.csv"
        path.write_text(header + row + "\n")
        monkeypatch.setattr(special_sessions, "PATH", path)
        special_sessions._table.cache_clear()
        with pytest.raises(InvalidInput, match=message) as err:
            special_sessions.for_market("CL")
        assert "line 2" in str(err.value)
    special_sessions._table.cache_clear()


@pytest.mark.parametrize("root", FUTURES_ROOTS)
def test_outside_the_audited_years_the_calendar_rules_apply(root: str) -> None:
    assert calendars.session(root, date(2018, 12, 25)) is None
    s = calendars.session(root, date(2018, 12, 26))
    assert s is not None and s.note == ""
