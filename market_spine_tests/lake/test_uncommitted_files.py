"""Maintenance deletes data files no version references (a write that died before its commit)
once older than the retention, and never a file a retained version or a running write needs."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from market_spine.lake import Lake
from market_spine.lake.maintenance import UNCOMMITTED_GRACE_HOURS, maintain
from market_spine_tests.kit.frames import DS, day_frame, put

DAY = date(2024, 1, 2)


def age(paths: set[Path], hours: float) -> None:
    stamp = time.time() - hours * 3600
    for p in paths:
        os.utime(p, (stamp, stamp))


def data_files(lake: Lake) -> set[Path]:
    return set(lake.path(DS).rglob("*.parquet"))


def die_before_commit(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> set[Path]:
    """A replacement whose process dies between writing its files and committing them; returns
    the files it left."""
    before = data_files(lake)

    def killed(self: Lake, *args: Any, **kwargs: Any) -> int:
        raise SystemExit("killed before the commit")

    with monkeypatch.context() as m:
        m.setattr(Lake, "_commit", killed)
        with pytest.raises(SystemExit):
            put(lake, DAY, "CL", 7.0)
    left = data_files(lake) - before
    assert left, "the write left no file behind"
    return left


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    two_days = pl.concat([day_frame(DAY, "CL", 1.0), day_frame(date(2024, 1, 3), "CL", 1.0)])
    lake.replace(
        DS,
        two_days,
        equals={"symbol": "CL"},
        between={"trade_date": (DAY, date(2024, 1, 3))},
        partition_by=["symbol"],
    )
    return lake


def test_files_of_a_write_that_never_committed_go_once_older_than_the_retention(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphans = die_before_commit(lake, monkeypatch)
    # The day shared a file with the next day: its rewritten remainder is left behind too.
    assert len(orphans) == 2
    rows = lake.read(DS).sort("ts")

    report = maintain(lake, DS, retention_hours=0)
    assert report.uncommitted_removed == 0, "a file this young may be a write still in flight"
    assert orphans <= data_files(lake)

    age(orphans, UNCOMMITTED_GRACE_HOURS + 1)
    report = maintain(lake, DS, retention_hours=0)
    assert report.uncommitted_removed == 2
    assert not orphans & data_files(lake)
    assert Lake(lake.root).read(DS).sort("ts").equals(rows)


def test_the_retention_keeps_recent_orphans_and_every_file_of_retained_versions(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(lake, DAY, "CL", 2.0)  # the first file is now only in version 0, kept for time travel
    orphans = die_before_commit(lake, monkeypatch)
    age(data_files(lake), 24)

    report = maintain(lake, DS, retention_hours=48)
    assert report.uncommitted_removed == 0
    assert orphans <= data_files(lake)

    age(data_files(lake), 72)
    report = maintain(lake, DS, retention_hours=48)
    assert report.uncommitted_removed == len(orphans)
    assert not orphans & data_files(lake)
    # Files the log references are kept by the deletion time of their removal, not their age.
    past = Lake(lake.root).read(DS, as_of=0)
    assert past.height == 120 and past["close"].unique().to_list() == [1.0]
    now = Lake(lake.root).read(DS, between={"trade_date": (DAY, DAY)})
    assert now["close"].unique().to_list() == [2.0]
