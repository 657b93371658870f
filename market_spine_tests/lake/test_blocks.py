"""Rebuilding blocks of trade dates: whole blocks in one commit, and a day the computed rows
cover only in part replaced within its bounds, keeping the rows another writer landed beyond."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from market_spine.lake import Lake
from market_spine.lake.blocks import Previous, rebuild_blocks
from market_spine_tests.kit.frames import DS, day_frame

SOURCE = "raw/test_bars"
MON, TUE, WED = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)


def test_a_partly_covered_day_keeps_the_rows_beyond_its_bounds(tmp_path) -> None:
    lake = Lake(tmp_path / "lake")
    # The target already holds three whole days of an older source (close 1.0).
    for day in (MON, TUE, WED):
        lake.append(DS, day_frame(day, "CL", 1.0), partition_by=["symbol"])
    # The new source covers Monday and Wednesday whole, Tuesday only up to 14:29.
    source = pl.concat(
        [
            day_frame(MON, "CL", 2.0),
            day_frame(TUE, "CL", 2.0, minutes=30),
            day_frame(WED, "CL", 2.0),
        ]
    )
    lake.append(SOURCE, source, partition_by=["symbol"])
    before = lake.version(DS)
    held_before = lake.read(DS)
    tuesday_end = datetime(2024, 3, 5, 14, 29, tzinfo=UTC)

    def narrow(_source: pl.DataFrame, rows: pl.DataFrame) -> dict:
        return {TUE: {"ts": (datetime(2024, 3, 5, tzinfo=UTC), tuesday_end)}}

    held = rebuild_blocks(
        lake,
        [MON, TUE, WED],
        SOURCE,
        DS,
        lambda rows: rows,
        "run-1",
        ["symbol"],
        equals={"symbol": "CL"},
        narrow=narrow,
        previous=(previous := Previous()),
    )

    rows = lake.read(DS).sort("ts")
    assert rows.height == 3 * 60  # nothing duplicated, nothing lost
    tuesday = rows.filter(pl.col("trade_date") == TUE)
    assert tuesday.filter(pl.col("ts") <= tuesday_end)["close"].unique().to_list() == [2.0]
    assert tuesday.filter(pl.col("ts") > tuesday_end)["close"].unique().to_list() == [1.0]
    for day in (MON, WED):
        assert rows.filter(pl.col("trade_date") == day)["close"].unique().to_list() == [2.0]
    # What the days hold after the rebuild is returned: written rows and the kept ones.
    assert held.sort("ts").equals(rows.select(held.columns))
    # Monday, Tuesday (bounded, alone) and Wednesday: three commits.
    assert lake.version(DS) == before + 3
    # What the days held before comes back from the replacements themselves, the rows a
    # bounded day kept included, at the version the first one read.
    assert previous.version == before
    assert previous.rows().sort("ts").equals(held_before.sort("ts"))
