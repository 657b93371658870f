"""The Delta store: appends, atomic replacement, pruned reads, time travel, history, maintenance."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from market_spine.errors import InvalidInput, LakeDamaged, LakeError
from market_spine.lake import Lake
from market_spine.lake.maintenance import maintain
from market_spine_tests.kit.frames import DS, day_frame, put


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def test_replace_refuses_to_replace_without_a_partition(lake: Lake) -> None:
    with pytest.raises(LakeError, match="needs a partition"):
        lake.replace(DS, day_frame(date(2024, 1, 2), "CL", 1.0))


def test_replace_is_idempotent_and_keeps_other_partitions(lake: Lake) -> None:
    d1, d2 = date(2024, 1, 2), date(2024, 1, 3)
    put(lake, d1, "CL", 1.0)
    put(lake, d2, "CL", 2.0)
    put(lake, d1, "ES", 3.0)
    before = lake.read(DS)
    v = put(lake, d1, "CL", 1.0)
    after = lake.read(DS)
    assert v == 3
    assert after.sort("symbol", "ts").equals(before.sort("symbol", "ts"))
    assert after.height == 180


def test_replace_changes_only_its_partition_and_time_travel_reads_the_past(lake: Lake) -> None:
    d1, d2 = date(2024, 1, 2), date(2024, 1, 3)
    for day, value in ((d1, 1.0), (d2, 2.0), (d1, 9.0)):
        put(lake, day, "CL", value)
        time.sleep(0.01)  # commit timestamps have millisecond resolution
    now = lake.read(DS, equals={"symbol": "CL"})
    assert sorted(now["close"].unique().to_list()) == [2.0, 9.0]
    past = lake.read(DS, equals={"symbol": "CL"}, as_of=1)
    assert sorted(past["close"].unique().to_list()) == [1.0, 2.0]
    stamp = datetime.fromtimestamp(lake.history(DS)[1]["timestamp"] / 1000, UTC)
    assert sorted(lake.read(DS, as_of=stamp)["close"].unique().to_list()) == [1.0, 2.0]
    assert sorted(lake.read(DS, as_of="1")["close"].unique().to_list()) == [1.0, 2.0]


def test_commit_metadata_is_recorded(lake: Lake) -> None:
    put(lake, date(2024, 1, 2), "CL", 5.0)
    newest = lake.history(DS, 1)[0]
    assert newest["capture_id"] == "cap-5.0"
    assert newest["rows"] == "60"
    assert newest["code_version"] == "0.1.0"


def test_read_filters_by_timestamp_and_date_and_columns(lake: Lake) -> None:
    for i in range(5):
        put(lake, date(2024, 1, 2) + timedelta(days=i), "CL", float(i))
    lo = datetime(2024, 1, 3, 14, 10, tzinfo=UTC)
    hi = datetime(2024, 1, 3, 14, 19, tzinfo=UTC)
    rows = lake.read(DS, equals={"symbol": "CL"}, between={"ts": (lo, hi)}, columns=["ts", "close"])
    assert rows.columns == ["ts", "close"]
    assert rows.height == 10
    assert rows["ts"].min() == lo
    assert rows.schema["ts"] == pl.Datetime("ns", "UTC")
    by_date = lake.read(DS, between={"trade_date": (date(2024, 1, 4), date(2024, 1, 5))})
    assert by_date.height == 120
    assert lake.read(DS, equals={"symbol": "NG"}).height == 0


def test_read_sees_commits_made_by_another_lake_instance(lake: Lake, tmp_path: Path) -> None:
    put(lake, date(2024, 1, 2), "CL", 1.0)
    assert lake.read(DS).height == 60
    put(Lake(tmp_path / "lake"), date(2024, 1, 3), "CL", 2.0)
    assert lake.read(DS).height == 120


def test_replace_rejects_rows_outside_the_predicate(lake: Lake) -> None:
    put(lake, date(2024, 1, 2), "CL", 1.0)
    stray = day_frame(date(2024, 1, 3), "CL", 7.0)
    with pytest.raises(LakeError):
        lake.replace(DS, stray, equals={"trade_date": date(2024, 1, 2), "symbol": "CL"})
    assert lake.version(DS) == 0
    assert lake.read(DS)["close"].unique().to_list() == [1.0]


def test_bad_names_and_as_of_values_say_how_to_fix(lake: Lake) -> None:
    with pytest.raises(InvalidInput, match="<layer>/<name>"):
        lake.path("Bad Name")
    with pytest.raises(LakeError, match="materialize it first"):
        lake.read(DS)
    put(lake, date(2024, 1, 2), "CL", 1.0)
    with pytest.raises(InvalidInput, match="ISO timestamp"):
        lake.read(DS, as_of="yesterday")
    with pytest.raises(InvalidInput, match="time zone"):
        lake.read(DS, as_of="2024-01-02T10:00:00")


def test_append_grows_and_datasets_are_listed(lake: Lake) -> None:
    lake.append("raw/test_bars", day_frame(date(2024, 1, 2), "CL", 1.0), partition_by=["symbol"])
    lake.append("raw/test_bars", day_frame(date(2024, 1, 2), "CL", 1.0), partition_by=["symbol"])
    put(lake, date(2024, 1, 2), "CL", 1.0)
    assert lake.read("raw/test_bars").height == 120
    assert lake.datasets() == [DS, "raw/test_bars"]


def test_maintenance_compacts_and_keeps_reads_identical(lake: Lake) -> None:
    for i in range(12):
        put(lake, date(2024, 1, 2) + timedelta(days=i), "CL", float(i))
    before = lake.read(DS).sort("ts")
    report = maintain(lake, DS, retention_hours=0)
    assert report.files_before == 12
    assert report.files_after == 1
    assert report.files_removed_by_vacuum >= 12
    assert lake.read(DS).sort("ts").equals(before)
    one_day = lake.read(DS, between={"trade_date": (date(2024, 1, 5), date(2024, 1, 5))})
    assert one_day["close"].unique().to_list() == [3.0]


def test_replacing_a_day_inside_a_compacted_month_rewrites_only_that_month(lake: Lake) -> None:
    days = [date(2024, 1, 2) + timedelta(days=i) for i in range(40)]
    for i, d in enumerate(days):
        put(lake, d, "CL", float(i))
    maintain(lake, DS, retention_hours=10_000)
    files = lake.table(DS).file_uris()
    assert len(files) == 2  # one file per symbol-month: January and February
    put(lake, date(2024, 1, 10), "CL", 99.0)
    after = lake.read(DS)
    assert after.height == 40 * 60
    changed = after.filter(pl.col("trade_date") == date(2024, 1, 10))["close"].unique().to_list()
    assert changed == [99.0]
    assert after.filter(pl.col("close") == 99.0).height == 60
    new_files = set(lake.table(DS).file_uris())
    feb = [f for f in files if f in new_files]
    assert len(feb) == 1, "the February file must be untouched"
    assert lake.read(DS, as_of=lake.version(DS) - 1).filter(pl.col("close") == 99.0).height == 0


def test_a_write_with_another_schema_is_refused(lake: Lake) -> None:
    put(lake, date(2024, 1, 2), "CL", 1.0)
    day = {"trade_date": date(2024, 1, 3), "symbol": "CL"}
    retyped = day_frame(date(2024, 1, 3), "CL", 1.0).with_columns(close=pl.lit("1.0"))
    with pytest.raises(LakeError, match="new schema version"):
        lake.replace(DS, retyped, equals=day)
    fewer = day_frame(date(2024, 1, 3), "CL", 1.0).drop("close").with_columns(extra=pl.lit(1))
    with pytest.raises(LakeError, match="new schema version"):
        lake.replace(DS, fewer, equals=day)
    assert lake.version(DS) == 0


def test_a_write_adding_a_column_evolves_the_table_and_old_files_read_it_as_null(
    lake: Lake,
) -> None:
    put(lake, date(2024, 1, 2), "CL", 1.0)
    grown = day_frame(date(2024, 1, 3), "CL", 2.0).with_columns(note=pl.lit("checked"))
    lake.append(DS, grown, partition_by=["symbol"])
    # One commit adds the column, the next the rows; the log stays whole for the ledger.
    assert lake.version(DS) == 2
    rows = lake.read(DS).sort("ts")
    assert rows["note"].to_list() == [None] * 60 + ["checked"] * 60
    assert "note" not in lake.read(DS, as_of=0).columns
    later = day_frame(date(2024, 1, 4), "CL", 3.0).with_columns(note=pl.lit(None, pl.String))
    lake.append(DS, later, partition_by=["symbol"])
    fresh = Lake(lake.root)
    assert fresh.read(DS, equals={"trade_date": date(2024, 1, 2)})["note"].null_count() == 60
    assert fresh.read(DS).height == 180


def test_a_replacement_hands_back_the_rows_it_replaced(lake: Lake) -> None:
    days = [date(2024, 1, 2) + timedelta(days=i) for i in range(5)]
    for i, d in enumerate(days):
        put(lake, d, "CL", float(i))
    put(lake, days[0], "ES", 7.0)
    # A week replaced at once: files wholly inside it, read only to be handed back.
    week = {"trade_date": (days[0], days[-1])}
    held = lake.read(DS, equals={"symbol": "CL"}, between=week)
    read_at = lake.version(DS)
    new = pl.concat([day_frame(d, "CL", 50.0) for d in days])
    done = lake.replace(
        DS,
        new,
        equals={"symbol": "CL"},
        between=week,
        partition_by=["symbol"],
        return_replaced=True,
    )
    assert done.read_version == read_at and done.version == read_at + 1
    assert done.replaced is not None
    assert done.replaced.sort("ts").equals(held.sort("ts"))
    # Without asking, nothing is read for the caller.
    assert put(lake, days[1], "CL", 51.0) == done.version + 1
    assert (
        lake.replace(DS, day_frame(days[1], "CL", 1.0), equals={"trade_date": days[1]}).replaced
        is None
    )


def test_a_day_inside_a_compacted_month_hands_back_only_that_day(lake: Lake) -> None:
    days = [date(2024, 1, 2) + timedelta(days=i) for i in range(10)]
    for i, d in enumerate(days):
        put(lake, d, "CL", float(i))
    maintain(lake, DS, retention_hours=10_000)
    assert len(lake.table(DS).file_uris()) == 1  # the day straddles the month's one file
    day = days[3]
    held = lake.read(DS, between={"trade_date": (day, day)})
    done = lake.replace(
        DS,
        day_frame(day, "CL", 99.0),
        equals={"trade_date": day, "symbol": "CL"},
        partition_by=["symbol"],
        return_replaced=True,
    )
    assert done.replaced is not None
    assert done.replaced.sort("ts").equals(held.sort("ts"))
    assert done.replaced["close"].unique().to_list() == [3.0]
    assert lake.read(DS).height == 10 * 60


def test_a_first_write_hands_back_no_rows_with_the_new_columns(lake: Lake) -> None:
    day = date(2024, 1, 2)
    done = lake.replace(
        DS, day_frame(day, "CL", 1.0), equals={"trade_date": day}, return_replaced=True
    )
    assert done.read_version is None and done.version == 0
    assert done.replaced is not None and done.replaced.is_empty()
    # The columns and types a read gives, so it compares with rows read later.
    assert done.replaced.schema == lake.read(DS).schema


def test_a_refused_replacement_hands_back_nothing_and_changes_nothing(lake: Lake) -> None:
    day = date(2024, 1, 2)
    put(lake, day, "CL", 1.0)
    before = lake.read(DS)
    other = day_frame(day, "CL", 2.0).with_columns(close=pl.lit("2.0"))
    with pytest.raises(LakeError, match="new schema version"):
        lake.replace(DS, other, equals={"trade_date": day}, return_replaced=True)
    assert lake.version(DS) == 0
    assert lake.read(DS).equals(before)


def test_replaced_rows_that_cannot_be_read_leave_the_table_and_its_folder_as_they_were(
    lake: Lake,
) -> None:
    days = [date(2024, 1, 2), date(2024, 1, 3)]
    both = pl.concat([day_frame(d, "CL", 1.0) for d in days])
    lake.replace(DS, both, between={"trade_date": (days[0], days[1])}, partition_by=["symbol"])
    folder = lake.path(DS)
    files = sorted(folder.rglob("*.parquet"))
    version = lake.version(DS)
    # The file holding both days is gone: a replacement of the second day must read it to
    # keep the first day's rows (a file it replaced whole would be dropped unread).
    second = lake.snapshot(DS).files[-1]
    Path(second.path).unlink()
    with pytest.raises(LakeDamaged, match="missing"):
        lake.replace(
            DS,
            day_frame(days[1], "CL", 2.0),
            equals={"trade_date": days[1], "symbol": "CL"},
            partition_by=["symbol"],
            return_replaced=True,
        )
    assert lake.version(DS) == version
    assert sorted(folder.rglob("*.parquet")) == [f for f in files if str(f) != second.path]


def test_a_replacement_writing_back_the_same_files_hands_back_its_rows_without_reading(
    lake: Lake,
) -> None:
    day = date(2024, 1, 2)
    put(lake, day, "CL", 1.0)
    read = lake.read(DS, equals={"trade_date": day, "symbol": "CL"})
    where = {"equals": {"trade_date": day, "symbol": "CL"}, "partition_by": ["symbol"]}
    # The file it replaces is gone: a replacement that had to read it would fail.
    [removed] = lake.snapshot(DS).files
    Path(removed.path).unlink()
    same = lake.replace(DS, day_frame(day, "CL", 1.0), return_replaced=True, **where)
    assert same.replaced is not None
    assert same.replaced.schema == read.schema
    assert same.replaced.equals(read)
    # Different rows are files with other bytes: the rows they replace are read.
    back = lake.replace(DS, day_frame(day, "CL", 2.0), return_replaced=True, **where)
    assert back.replaced is not None and back.replaced.equals(read)
    # A file replaced whole that is gone is dropped unread: its rows are not handed back,
    # and the replacement says which file they were in.
    [removed] = lake.snapshot(DS).files
    Path(removed.path).unlink()
    gone = lake.replace(DS, day_frame(day, "CL", 3.0), return_replaced=True, **where)
    assert gone.replaced is not None and gone.replaced.height == 0
    assert [u.damage.path for u in gone.damaged] == [removed.rel]
