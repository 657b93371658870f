"""The row filter's forms agree: what the file index prunes or keeps whole, which rows the polars
expression keeps and how many rows `rows_outside` counts are one rule."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from market_spine.lake.filters import RowFilter, comparable
from market_spine.lake.reader import FileEntry

DAY0 = date(2024, 3, 4)


def _rows(seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    return pl.DataFrame(
        {
            "symbol": [rng.choice(["CL", "ES"]) for _ in range(n)],
            "trade_date": [DAY0 + timedelta(days=rng.randint(0, 6)) for _ in range(n)],
            "ts": [
                datetime(2024, 3, 4, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 9000))
                for _ in range(n)
            ],
        }
    )


def _file(rows: pl.DataFrame, symbol: str) -> FileEntry:
    """A file of one symbol partition with the min/max statistics of its rows."""
    stats = rows.drop("symbol")
    return FileEntry(
        path="x.parquet",
        rel="x.parquet",
        size=1,
        rows=rows.height,
        partition={"symbol": symbol},
        partition_raw={"symbol": symbol},
        mins={c: comparable(stats[c].min()) for c in stats.columns},
        maxs={c: comparable(stats[c].max()) for c in stats.columns},
    )


def _filter(seed: int) -> RowFilter:
    rng = random.Random(seed + 1000)
    lo = DAY0 + timedelta(days=rng.randint(0, 6))
    hi = lo + timedelta(days=rng.randint(0, 3))
    equals = {"symbol": rng.choice(["CL", "ES"])} if rng.random() < 0.7 else {}
    between: dict = {"trade_date": (lo, hi)} if rng.random() < 0.8 else {}
    if rng.random() < 0.3:
        start = datetime(2024, 3, 5, tzinfo=UTC) + timedelta(hours=rng.randint(0, 80))
        between["ts"] = (start, start + timedelta(hours=rng.randint(0, 40)))
    return RowFilter(equals, between)


@pytest.mark.parametrize("seed", range(60))
def test_every_form_of_the_filter_agrees(seed: int) -> None:
    wanted = _filter(seed)
    for symbol in ("CL", "ES"):
        rows = _rows(seed).with_columns(symbol=pl.lit(symbol))
        matching = rows.filter(wanted.expr()).height
        by_hand = sum(
            all(row[c] == v for c, v in wanted.equals.items())
            and all(lo <= row[c] <= hi for c, (lo, hi) in wanted.between.items())
            for row in rows.iter_rows(named=True)
        )
        assert matching == by_hand
        assert wanted.rows_outside(rows.to_arrow()) == rows.height - matching
        entry = _file(rows, symbol)
        index_form = wanted.comparable()
        if not index_form.may_match(entry):
            assert matching == 0, "a pruned file held matching rows"
        if index_form.covers(entry):
            assert matching == rows.height, "a file kept whole held rows outside the filter"


def test_the_empty_filter_matches_everything() -> None:
    rows = _rows(1)
    assert not RowFilter()
    assert rows.filter(RowFilter().expr()).height == rows.height
    assert RowFilter().rows_outside(rows.to_arrow()) == 0


def test_a_filter_reads_as_the_partition_it_names() -> None:
    wanted = RowFilter({"symbol": "CL"}, {"trade_date": (date(2024, 3, 4), date(2024, 3, 5))})
    assert str(wanted) == "symbol=CL, trade_date in [2024-03-04, 2024-03-05]"


def test_partition_values_are_admitted_by_the_conditions_on_them_only() -> None:
    wanted = RowFilter({"symbol": "CL"}, {"trade_date": (1, 2)})
    assert wanted.admits({"symbol": "CL"})
    assert not wanted.admits({"symbol": "ES"})
    assert not wanted.admits({"trade_date": 3})


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        comparable(datetime(2024, 3, 5))


def test_a_value_of_another_type_than_the_column_never_raises() -> None:
    """Text against an integer column (a tenant key against an int tenant column) neither
    prunes a file it cannot judge nor claims to cover it."""
    org = FileEntry(
        path="x.parquet",
        rel="x.parquet",
        size=1,
        rows=2,
        partition={},
        partition_raw={},
        mins={"org": 1},
        maxs={"org": 2},
    )
    assert RowFilter({"org": "1"}, {}).may_match(org) is True
    assert RowFilter({"org": "1"}, {}).covers(org) is False
    assert RowFilter({}, {"org": ("1", "2")}).may_match(org) is True
    assert RowFilter({}, {"org": ("1", "2")}).covers(org) is False
