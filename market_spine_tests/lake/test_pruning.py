"""Pruning past the retention keeps every pinned version whole: its files and the log it is
replayed from survive maintenance, even at retention 0, while unpinned history goes and is
reported (files, bytes, versions)."""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from market_spine.errors import HistoryPruned
from market_spine.lake import Lake
from market_spine.lake.maintenance import maintain
from market_spine_tests.kit.frames import DS, put

DAY = date(2024, 1, 2)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """Three versions of one partition: closes 1.0, 2.0 and 3.0."""
    lake = Lake(tmp_path / "lake")
    for value in (1.0, 2.0, 3.0):
        put(lake, DAY, "CL", value)
    return lake


def test_a_pinned_version_reads_exactly_after_maintenance_at_retention_zero(lake: Lake) -> None:
    before = lake.read(DS, as_of=0)
    report = maintain(lake, DS, retention_hours=0, pinned={0})
    assert_frame_equal(lake.read(DS, as_of=0), before)
    pruning = report.pruning
    assert pruning is not None
    # Version 1's only file went: it is the one version that can no longer be read.
    assert pruning.versions == (1,) and len(pruning.files) == 1 and pruning.bytes > 0
    assert pruning.pinned == (0,) and pruning.kept_for_pins == 1
    with pytest.raises(HistoryPruned, match="version 1 of normalized/test_bars was pruned"):
        lake.read(DS, as_of=1)
    assert lake.read(DS)["close"].unique().to_list() == [3.0]


def test_without_a_pin_retention_zero_removes_every_old_version(lake: Lake) -> None:
    report = maintain(lake, DS, retention_hours=0)
    assert report.pruning is not None and report.pruning.versions == (0, 1)
    assert report.files_removed_by_vacuum == 2
    with pytest.raises(HistoryPruned, match="oldest version still readable is 2"):
        lake.read(DS, as_of=0)


def test_the_log_a_pinned_version_replays_from_outlives_later_maintenance(lake: Lake) -> None:
    before = lake.read(DS, as_of=1)
    maintain(lake, DS, retention_hours=0, pinned={1})
    for value in (4.0, 5.0):
        put(lake, DAY, "CL", value)
    report = maintain(lake, DS, retention_hours=0, pinned={1})
    assert_frame_equal(lake.read(DS, as_of=1), before)
    log = lake.path(DS) / "_delta_log"
    # Commits before version 1 are not needed by anything kept, yet no checkpoint lies at or
    # below version 1, so the log cannot be trimmed under it.
    assert (log / f"{1:020d}.json").is_file()
    assert report.pruning is not None and 1 not in report.pruning.versions


def test_the_log_is_trimmed_below_the_checkpoint_the_oldest_pin_needs(lake: Lake) -> None:
    maintain(lake, DS, retention_hours=0)  # a checkpoint at version 2, history before it gone
    put(lake, DAY, "CL", 4.0)
    pinned = lake.version(DS)
    before = lake.read(DS, as_of=pinned)
    for value in (5.0, 6.0):
        put(lake, DAY, "CL", value)
    maintain(lake, DS, retention_hours=0, pinned={pinned})
    log = lake.path(DS) / "_delta_log"
    assert not (log / f"{1:020d}.json").exists()  # below the checkpoint the pin replays from
    assert (log / f"{pinned:020d}.json").is_file()
    assert_frame_equal(lake.read(DS, as_of=pinned), before)


def test_history_inside_the_retention_is_kept(lake: Lake) -> None:
    before = lake.read(DS, as_of=0)
    report = maintain(lake, DS, retention_hours=24)
    assert report.pruning is not None and report.pruning.empty
    assert_frame_equal(lake.read(DS, as_of=0), before)


def test_an_old_never_committed_file_is_pruned_as_uncommitted(lake: Lake) -> None:
    stray = lake.path(DS) / "symbol=CL" / "part-stray.zstd.parquet"
    stray.write_bytes(b"PAR1 nothing committed PAR1")
    old = time.time() - 3 * 3600
    os.utime(stray, (old, old))
    report = maintain(lake, DS, retention_hours=2, pinned={0})
    assert not stray.exists()
    assert report.uncommitted_removed == 1 and report.files_removed_by_vacuum == 0
    assert report.pruning is not None and report.pruning.versions == ()


def test_a_time_before_the_pruned_history_says_it_was_pruned(lake: Lake) -> None:
    maintain(lake, DS, retention_hours=0)
    with pytest.raises(HistoryPruned, match="was pruned by maintenance"):
        lake.read(DS, as_of="2020-01-01T00:00:00Z")


def test_a_reader_that_cached_a_trimmed_version_reads_the_maintained_table(
    tmp_path: Path,
) -> None:
    writer = Lake(tmp_path / "lake")
    put(writer, DAY, "CL", 1.0)
    reader = Lake(tmp_path / "lake")
    assert reader.read(DS)["close"].to_list()[0] == 1.0  # caches version 0
    put(writer, DAY + timedelta(days=1), "CL", 2.0)  # a second file, for compaction to merge
    maintain(writer, DS, retention_hours=0)  # compacts, then trims commits 0 and 1 away
    assert not (writer.path(DS) / "_delta_log" / f"{1:020d}.json").exists()
    assert sorted(set(reader.read(DS)["close"].to_list())) == [1.0, 2.0]
