"""The futures completeness rules on frames: what is owed, what is a quiet market, what is lost."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from market_spine.futures import checks, no_trade
from market_spine.markets import calendars
from market_spine.providers.simulated import SimulatedMarket

MARKET = SimulatedMarket()
DAY = date(2024, 3, 5)


def bars(symbol: str, day: date) -> pl.DataFrame:
    """A clean simulated session as the normalized table holds it."""
    return MARKET.bars(symbol, day).with_columns(trade_date=pl.lit(day))


def drop_minutes(frame: pl.DataFrame, start: str, minutes: int) -> pl.DataFrame:
    """The session less `minutes` consecutive bars from `start` (ISO, UTC)."""
    first = datetime.fromisoformat(start).replace(tzinfo=UTC)
    index = frame.with_row_index().filter(pl.col("ts") >= first)["index"][0]
    return frame.with_row_index().filter(~pl.col("index").is_between(index, index + minutes - 1))


def test_a_clean_session_has_only_no_trade_minutes() -> None:
    outcome = checks.completeness(bars("ES", DAY), [("ES", DAY)])
    assert outcome.passed
    meta = outcome.metadata
    assert meta["expected_bars"] == len(calendars.expected_minutes("ES", DAY))
    assert meta["no_trade_minutes"] == len(MARKET.no_trade_minutes("ES", DAY))
    assert meta["missing_minutes"] == meta["unexpected_bars"] == 0


def test_a_lone_silent_minute_among_busy_ones_is_a_quiet_market() -> None:
    """CL 2023-02-27 10:40 UTC printed nothing between minutes of 10 to 110 trades: the
    simulated market's per-minute activity is that dispersed, and so are real markets."""
    day = date(2023, 2, 27)
    silent = int(np.datetime64("2023-02-27T10:40", "ns").astype(np.int64))
    assert silent in MARKET.no_trade_minutes("CL", day).asi8
    outcome = checks.completeness(bars("CL", day), [("CL", day)])
    assert outcome.passed, outcome.metadata["worst"]


def test_one_lost_minute_of_a_busy_hour_is_missing_and_warns() -> None:
    gappy = drop_minutes(bars("ES", DAY), "2024-03-05T15:00:00", 1)
    outcome = checks.completeness(gappy, [("ES", DAY)])
    assert not outcome.passed and outcome.warn_only
    assert outcome.metadata["missing_minutes"] == 1
    assert outcome.metadata["worst"][0]["missing_runs"] == ["2024-03-05T15:00:00Z +1m"]


def test_a_lost_block_fails() -> None:
    gappy = drop_minutes(bars("CL", DAY), "2024-03-05T14:10:00", 4)
    outcome = checks.completeness(gappy, [("CL", DAY)])
    assert not outcome.passed and not outcome.warn_only
    assert outcome.metadata["missing_minutes"] == 4


def test_a_thin_market_without_trade_counts_may_pause() -> None:
    """A vendor file with volume but no trade counts: each bar counts as one trade, so a few
    silent minutes are plausible, half an hour is not."""
    thin = bars("NG", DAY).with_columns(trades=pl.lit(None, pl.Int64))
    paused = drop_minutes(thin, "2024-03-05T02:00:00", 6)
    assert checks.completeness(paused, [("NG", DAY)]).passed
    lost = drop_minutes(thin, "2024-03-05T02:00:00", no_trade.MAX_NO_TRADE_RUN + 1)
    outcome = checks.completeness(lost, [("NG", DAY)])
    assert outcome.metadata["missing_minutes"] == no_trade.MAX_NO_TRADE_RUN + 1


def test_a_bar_outside_the_session_fails() -> None:
    session = calendars.session("CL", DAY)
    assert session is not None and session.breaks == ()
    stray = (
        bars("CL", DAY)
        .head(1)
        .with_columns(ts=pl.lit(session.close.to_pydatetime()).cast(pl.Datetime("ns", "UTC")))
    )
    outcome = checks.completeness(pl.concat([bars("CL", DAY), stray]), [("CL", DAY)])
    assert not outcome.passed and not outcome.warn_only
    assert outcome.metadata["unexpected_bars"] == 1


def test_a_live_session_owes_only_closed_minutes() -> None:
    now = datetime(2024, 3, 5, 15, 30, tzinfo=UTC)
    live = SimulatedMarket(clock=lambda: now).bars("CL", DAY).with_columns(trade_date=pl.lit(DAY))
    outcome = checks.completeness(live, [("CL", DAY)], now=now)
    assert outcome.passed and outcome.metadata["expected_bars"] == 16 * 60 + 30
    assert not checks.completeness(live, [("CL", DAY)]).passed  # the full session is owed


def test_a_day_without_a_session_owes_nothing() -> None:
    empty = bars("ES", date(2024, 3, 29))  # Good Friday
    outcome = checks.completeness(empty, [("ES", date(2024, 3, 29))])
    assert outcome.passed and outcome.metadata["expected_bars"] == 0


@pytest.mark.parametrize(
    ("symbol", "day"),
    [
        ("CL", date(2024, 12, 24)),  # energy halts early on Christmas Eve
        ("ES", date(2024, 11, 29)),  # equity halts early after Thanksgiving
        ("ES", date(2021, 6, 25)),  # the old 15:15-15:30 CT equity halt
        ("NG", date(2024, 1, 16)),  # MLK's holiday trading belongs to the next trade date
        ("CL", date(2024, 3, 11)),  # first session after the US spring DST change
        ("ES", date(2024, 11, 4)),  # first session after the autumn change
        ("NG", date(2023, 7, 5)),  # the session after Independence Day
    ],
)
def test_special_sessions_of_the_simulator_match_the_grid(symbol: str, day: date) -> None:
    outcome = checks.completeness(bars(symbol, day), [(symbol, day)])
    assert outcome.passed, outcome.metadata["worst"]
    assert outcome.metadata["expected_bars"] == len(calendars.expected_minutes(symbol, day))


def test_busier_neighbours_make_silence_less_likely() -> None:
    quiet, busy = np.full(60, 2.0), np.full(60, 200.0)
    assert no_trade.log_prob_silent_minute(busy) < no_trade.log_prob_silent_minute(quiet) < 0


def test_minute_runs_split_consecutive_minutes() -> None:
    minute = 60_000_000_000
    stamps = np.array([0, 1, 2, 5, 9, 10]) * minute
    assert checks.minute_runs(stamps) == [(0, 3), (5 * minute, 1), (9 * minute, 2)]
    assert checks.minute_runs(np.empty(0, np.int64)) == []
