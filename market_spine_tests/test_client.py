"""`Spine`: bars by trade date or timestamp range, time travel, and SQL views over the lake."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from market_spine import Spine
from market_spine.errors import (
    InvalidDate,
    InvalidInput,
    InvalidRange,
    NotMaterialized,
    UnknownSymbol,
)
from market_spine_tests.kit.homes import settings_for


@pytest.fixture(scope="module")
def spine(materialized_home: Path) -> Spine:
    return Spine(settings=settings_for(materialized_home))


def test_bars_by_trade_date_and_by_timestamp(spine: Spine) -> None:
    day = spine.bars("cl", "2024-03-05")
    assert day["trade_date"].unique().to_list() == [date(2024, 3, 5)]
    assert day.schema["ts"] == pl.Datetime("ns", "UTC")
    assert day["ts"].is_sorted()
    window = spine.bars("CL", "2024-03-05T14:30:00Z", "2024-03-05T15:00:00Z")
    assert window["ts"].min() >= datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
    assert window["ts"].max() < datetime(2024, 3, 5, 15, tzinfo=UTC)
    assert window.height == day.filter(pl.col("ts").is_in(window["ts"].implode())).height
    week = spine.bars("ES", "20240304", "20240308")
    assert week["trade_date"].n_unique() == 5


def test_sql_sees_every_dataset_and_agrees_with_bars(spine: Spine) -> None:
    assert {"futures_bars_1m", "futures_bars_daily", "raw_futures_bars_1m"} <= set(spine.tables())
    counts = spine.sql(
        "select symbol, trade_date, count(*) as n from futures_bars_1m group by all order by all"
    )
    assert counts.height == 15
    cl = counts.filter((pl.col("symbol") == "CL") & (pl.col("trade_date") == date(2024, 3, 5)))
    assert cl["n"][0] == spine.bars("CL", "2024-03-05").height
    daily = spine.sql("select * from analytics.futures_bars_daily where symbol = 'NG'")
    assert daily.height == 5 and daily["bar_count"].sum() == spine.bars("NG", *WEEK_STR).height


WEEK_STR = ("2024-03-04", "2024-03-08")


def test_bad_input_says_what_to_fix(spine: Spine) -> None:
    with pytest.raises(UnknownSymbol, match="known symbols"):
        spine.bars("XX", "2024-03-05")
    with pytest.raises(InvalidDate, match="2024-01-02"):
        spine.bars("CL", "March 5th")
    with pytest.raises(InvalidRange, match="swap"):
        spine.bars("CL", "2024-03-08", "2024-03-04")
    with pytest.raises(InvalidInput, match="trade date"):
        spine.daily("CL", "2024-03-05T00:00:00Z")
    with pytest.raises(InvalidInput, match="available tables"):
        spine.sql("select * from no_such_table")


def test_an_empty_home_says_to_materialize(tmp_path: Path) -> None:
    with pytest.raises(NotMaterialized, match="market-spine process"):
        Spine(settings=settings_for(tmp_path)).bars("CL", "2024-03-05")


def test_sql_views_follow_new_versions(tmp_path: Path) -> None:
    from market_spine_tests.kit.frames import put

    spine = Spine(settings=settings_for(tmp_path))
    put(spine.lake, date(2024, 1, 2), "CL", 1.0)
    assert spine.sql("select count(*) as n from test_bars")["n"][0] == 60
    put(spine.lake, date(2024, 1, 3), "ES", 2.0)
    put(spine.lake, date(2024, 1, 2), "CL", 5.0)
    now = spine.sql(
        "select symbol, max(close) as c from normalized.test_bars group by 1 order by 1"
    )
    assert now.rows() == [("CL", 5.0), ("ES", 2.0)]
