"""The volume roll of ES around its March 2024 roll is the same whatever order its sessions are
loaded in: a later session built before the earlier ones that decide its roll is rebuilt, and
certified again, when they are loaded. Real runs through Dagster into a real Delta lake."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from market_spine import Spine
from market_spine.futures.roll_table import held_on
from market_spine.markets import calendars
from market_spine.markets.instruments import get_instrument
from market_spine.markets.rolls import continuous_symbol
from market_spine_tests.kit.run_homes import run_days

ROOT = "ES"
FIRST, LAST = date(2024, 3, 4), date(2024, 3, 6)
SERIES = ("ES.c.0", "ES.c.1", "ES.v.0", "ES.v.1")
CONTINUOUS = ("normalized/futures_continuous_1m", "analytics/futures_continuous_daily")


def loaded(home: Path, *ranges: tuple[date, date]) -> Path:
    for first, last in ranges:
        assert run_days(home, ROOT, first, last).success
    return home


@pytest.fixture(scope="module")
def at_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return loaded(tmp_path_factory.mktemp("at_once") / "home", (FIRST, LAST))


@pytest.fixture(scope="module")
def later_first(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return loaded(
        tmp_path_factory.mktemp("later_first") / "home", (LAST, LAST), (FIRST, date(2024, 3, 5))
    )


def series(home: Path, name: str) -> pl.DataFrame:
    return Spine(home).bars(name, FIRST, LAST).drop("capture_id").sort("ts")


def rolls(home: Path) -> pl.DataFrame:
    return Spine(home).rolls(ROOT, "2024-03-01", "2024-03-08").drop("capture_id")


def states(home: Path) -> pl.DataFrame:
    ready = Spine(home).readiness(list(CONTINUOUS), ROOT, FIRST, LAST)
    return ready.select("dataset", "trade_date", "symbol", "state").sort(
        "dataset", "trade_date", "symbol"
    )


@pytest.mark.parametrize("name", SERIES)
def test_each_series_is_the_same_whatever_the_load_order(at_once, later_first, name) -> None:
    assert series(later_first, name).equals(series(at_once, name))


def test_the_roll_table_and_certification_are_the_same_whatever_the_load_order(
    at_once, later_first
) -> None:
    assert rolls(later_first).equals(rolls(at_once))
    assert states(later_first).equals(states(at_once))
    assert set(states(later_first)["state"]) == {"certified"}
    v0 = rolls(later_first).filter(pl.col("series") == "ES.v.0").row(0, named=True)
    # ESM4 out-traded ESH4 on 03-05: the volume series holds it from the next session on.
    assert (v0["trade_date"], v0["from_contract"], v0["to_contract"]) == (LAST, "ESH4", "ESM4")


def test_held_on_names_the_contract_each_series_holds(later_first) -> None:
    spine = Spine(later_first)
    for name in SERIES:
        held = series(later_first, name).group_by("trade_date").agg(pl.col("contract").unique())
        for day, contracts in held.iter_rows():
            assert contracts == [held_on(spine.lake, continuous_symbol(name), day).local_symbol]


def test_gaps_and_difference_adjusted_prices_are_on_the_tick_grid(later_first) -> None:
    tick = get_instrument(ROOT).tick_size
    spine = Spine(later_first)
    gaps = rolls(later_first)["gap"].drop_nulls()
    assert gaps.len() and ((gaps / tick).round(0) * tick - gaps).abs().max() < 1e-9
    assert gaps.to_list() == [round(g, 2) for g in gaps]
    adjusted = spine.bars(
        "ES.c.0", calendars.previous_trading_day(ROOT, FIRST), LAST, adjust="difference"
    )
    assert adjusted["high"].to_list() == [round(h, 2) for h in adjusted["high"]]
