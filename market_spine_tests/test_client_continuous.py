"""Continuous series and the roll table through Spine and SQL, over the shared materialized week
(ES rolls from H4 to M4 on 2024-03-07 by the calendar, a session earlier by volume)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from market_spine import Spine
from market_spine.errors import InvalidInput, UnknownSymbol
from market_spine.markets.empty_reads import EmptyReadWarning
from market_spine_tests.kit.homes import WEEK, settings_for

ROLL_DAY = date(2024, 3, 7)


@pytest.fixture(scope="module")
def spine(materialized_home: Path) -> Spine:
    return Spine(settings=settings_for(materialized_home))


def test_a_continuous_symbol_reads_the_series_across_its_roll(spine: Spine) -> None:
    c0 = spine.bars("ES.c.0", *WEEK)
    assert c0["series"].unique().to_list() == ["ES.c.0"]
    held = dict(c0.group_by("trade_date").agg(pl.col("contract").first()).iter_rows())
    assert held[date(2024, 3, 6)] == "ESH4"
    assert held[ROLL_DAY] == "ESM4"
    # Before the roll the calendar front series is the root's own front-month bars.
    front = spine.bars("ES", "2024-03-05")
    assert c0.filter(pl.col("trade_date") == date(2024, 3, 5))["close"].equals(front["close"])


def test_the_volume_series_rolls_a_session_before_the_calendar(spine: Spine) -> None:
    rolls = spine.rolls("ES", *WEEK)
    when = dict(rolls.select("series", "trade_date").iter_rows())
    assert when == {
        "ES.c.0": ROLL_DAY,
        "ES.c.1": ROLL_DAY,
        "ES.v.0": date(2024, 3, 6),
        "ES.v.1": date(2024, 3, 6),
    }
    v0 = spine.bars("ES.v.0", "2024-03-06")
    assert v0["contract"].unique().to_list() == ["ESM4"]
    assert spine.rolls("ES.v.0", *WEEK).height == 1
    # Without an end, every roll from the start on (not the start day's alone).
    assert spine.rolls("ES.c.0", WEEK[0]).height == 1


def test_back_adjustment_joins_the_series_at_the_roll(spine: Spine) -> None:
    roll = spine.rolls("ES.c.0", *WEEK).row(0, named=True)
    raw = spine.bars("ES.c.0", *WEEK)
    for how in ("difference", "ratio"):
        adjusted = spine.bars("ES.c.0", *WEEK, adjust=how)
        at_gap = adjusted.filter(pl.col("ts") == roll["gap_ts"])
        assert at_gap["close"][0] == pytest.approx(roll["to_price"])
        after = pl.col("trade_date") >= ROLL_DAY
        assert adjusted.filter(after)["close"].equals(raw.filter(after)["close"])
    daily = spine.daily("ES.c.0", *WEEK, adjust="difference")
    before = daily.filter(pl.col("trade_date") < ROLL_DAY)
    assert (before["adjustment"] == roll["gap"]).all()
    assert spine.daily("ES.c.0", *WEEK)["series"].unique().to_list() == ["ES.c.0"]
    # Columns asked without the contract: the rolls inside are still checked, and the answer
    # holds what was asked.
    narrow = spine.bars("ES.c.0", *WEEK, columns=["ts", "trade_date", "close"], adjust="ratio")
    assert narrow.columns == ["ts", "trade_date", "close", "adjustment", "certification"]
    assert narrow["close"].equals(spine.bars("ES.c.0", *WEEK, adjust="ratio")["close"])


def test_adjusting_a_root_or_an_unknown_series_is_refused(spine: Spine) -> None:
    with pytest.raises(InvalidInput, match="applies to continuous series"):
        spine.bars("ES", *WEEK, adjust="ratio")
    with pytest.raises(InvalidInput, match="adjust='back'"):
        spine.bars("ES.c.0", *WEEK, adjust="back")
    with pytest.raises(UnknownSymbol, match="not served"):
        spine.bars("ES.c.3", *WEEK)


def test_sql_has_the_series_the_rolls_and_an_adjusted_view(spine: Spine) -> None:
    assert {"futures_continuous_1m", "futures_rolls", "futures_continuous_adjusted_1m"} <= set(
        spine.tables()
    )
    adjusted = spine.sql(
        "select ts, close_difference, close_ratio from futures_continuous_adjusted_1m "
        "where series = 'ES.c.0' order by ts"
    )
    expected = spine.bars("ES.c.0", *WEEK, adjust="difference")
    # The week's roll is the newest in the table, so both anchor to the same contract.
    assert adjusted["close_difference"].to_list() == pytest.approx(expected["close"].to_list())
    ratio = spine.bars("ES.c.0", *WEEK, adjust="ratio")
    assert adjusted["close_ratio"].to_list() == pytest.approx(ratio["close"].to_list())


def test_a_continuous_read_carries_its_own_partitions_certification(spine: Spine) -> None:
    """The state beside a series' rows is the one readiness shows for the continuous
    partition (root × day), not the root's minutes'."""
    for symbol, dataset in (("ES.c.0", "normalized/futures_continuous_1m"),):
        rows = spine.bars(symbol, *WEEK)
        ready = spine.readiness(dataset, symbols="ES")
        shown = dict(ready.select("trade_date", "state").iter_rows())
        read = dict(rows.group_by("trade_date").agg(pl.col("certification").first()).iter_rows())
        assert read and read == {d: shown[d] for d in read}
    daily = spine.daily("ES.c.0", *WEEK)
    ready = spine.readiness("analytics/futures_continuous_daily", symbols="ES")
    shown = dict(ready.select("trade_date", "state").iter_rows())
    assert {d: s for d, s in daily.select("trade_date", "certification").iter_rows()} == {
        d: shown[d] for d in daily["trade_date"]
    }


@pytest.mark.parametrize("symbol", ["ES.c.-1", "ES.c", "ES..0", "ES.c.0.1", "ES.c.9", "ES.x.0"])
def test_a_malformed_or_unserved_series_names_the_served_forms(spine: Spine, symbol: str) -> None:
    """Every dotted name of a root that is not a served series gets the same answer, never
    the roots' 'a continuous series of ES, not a root'."""
    with pytest.raises(UnknownSymbol) as raised:
        spine.bars(symbol, *WEEK)
    said = str(raised.value)
    assert said.startswith(f"{symbol} is not served: continuous series are ROOT.c.N")
    assert "N in (0, 1)" in said and "not a root" not in said


def test_daily_bars_of_a_series_refuse_a_timestamp(spine: Spine) -> None:
    with pytest.raises(InvalidInput, match="daily bars are selected by trade date: pass dates"):
        spine.daily("NG.c.0", "2024-03-05T00:00:00Z")


def test_a_series_read_as_certified_says_to_read_its_root(spine: Spine) -> None:
    with pytest.raises(InvalidInput) as raised:
        spine.daily("NG.v.1", *WEEK, as_certified="2024-03-09")
    said = str(raised.value)
    assert said.startswith("NG.v.1 has no certified versions of its own")
    assert "read the root as_certified (symbol NG)" in said and "certified_only" in said


def _first_version_with(spine: Spine, table: str, series: str) -> int:
    """The first version of `table` holding rows of `series` (read version by version)."""
    root = series.split(".")[0]
    for version in range(spine.lake.version(table) + 1):
        rows = spine.lake.read(table, equals={"symbol": root, "series": series}, as_of=version)
        if not rows.is_empty():
            return version
    raise AssertionError(f"{table} never holds {series}")


def test_a_version_before_the_data_says_it_predates_it(spine: Spine) -> None:
    table = "normalized/futures_continuous_1m"
    first = _first_version_with(spine, table, "NG.c.0")
    assert first > 0, "the week's first run wrote NG: no version predates it"
    with pytest.warns(EmptyReadWarning) as caught:
        rows = spine.bars("NG.c.0", *WEEK, as_of=first - 1)
    assert rows.is_empty()
    reason = caught[0].message.reason  # type: ignore[union-attr]
    assert reason.code == "predates"
    assert f"version {first - 1} of {table} predates these rows" in reason.detail
    assert f"pass as_of={first} or later, or drop as_of" in reason.detail


def test_an_empty_roll_table_read_warns_why_as_the_api_says(spine: Spine) -> None:
    with pytest.warns(EmptyReadWarning) as caught:
        rows = spine.rolls("CL", "2024-03-04", "2024-03-05")
    assert rows.is_empty()
    reason = caught[0].message.reason  # type: ignore[union-attr]
    assert reason == spine.empty_reason(
        "normalized/futures_rolls", "CL", "2024-03-04", "2024-03-05"
    )
    assert reason.code == "no_roll" and "the next takes effect on 2024-03-13" in reason.detail
