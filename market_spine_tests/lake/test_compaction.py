"""Compaction of a local table, committed by writing its log entry (lake/own_log.py): what Delta
readers see after it, an append that lands while it runs, and a compaction that loses to
another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from market_spine.certification import ledger
from market_spine.certification.ledger import keep_small
from market_spine.lake import Lake, maintenance
from market_spine.lake.conflicts import PartitionChanged
from market_spine.lake.files import commit_name
from market_spine.lake.maintenance import compact
from market_spine.lake.reader import open_table
from market_spine.lake.verify import verify_lake
from market_spine_tests.lake.test_own_commits import LOG, index, log_rows, replayed
from market_spine_tests.lake.test_own_log import delta_rs_commits

APPENDS = 12


def appended(lake: Lake, n: int = APPENDS) -> pl.DataFrame:
    """`n` one-row appends to the test log (one file each, all in April 2024); the rows."""
    for i in range(n):
        lake.append(LOG, log_rows(i))
    return lake.read(LOG).sort("delta_version")


def data_files(lake: Lake) -> set[str]:
    """Every Parquet file in the table's folder, referenced or not."""
    return {p.name for p in Path(lake.location(LOG)).glob("*.parquet")}


def log_entry(lake: Lake, version: int) -> list[dict[str, Any]]:
    path = Path(lake.location(LOG)) / "_delta_log" / commit_name(version)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_compaction_is_committed_without_delta_rs_and_every_reader_sees_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake")
    before = appended(lake)
    made = delta_rs_commits(monkeypatch)
    assert compact(lake, LOG) == (APPENDS, 1)
    assert made == []
    assert lake.version(LOG) == APPENDS
    actions = log_entry(lake, APPENDS)
    adds = [a["add"] for a in actions if "add" in a]
    removes = [a["remove"] for a in actions if "remove" in a]
    assert (len(adds), len(removes)) == (1, APPENDS)
    assert not any(a["dataChange"] for a in [*adds, *removes])
    # The lake's own index of the new version is what a replay of the log builds.
    assert index(lake.snapshot(LOG)) == index(replayed(lake, LOG))
    assert lake.read(LOG).sort("delta_version").equals(before)
    fresh = open_table(lake.storage, lake.location(LOG))
    assert len(fresh.file_uris()) == 1
    assert pl.read_delta(lake.location(LOG)).sort("delta_version").equals(before)
    assert fresh.history(1)[0]["maintenance"] == "compact"
    assert Lake(tmp_path / "lake").read(LOG).sort("delta_version").equals(before)
    assert not verify_lake(Lake(tmp_path / "lake"), deep=True).findings


def test_an_append_landing_while_compaction_reads_is_kept_on_top_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, other = Lake(tmp_path / "lake"), Lake(tmp_path / "lake")
    appended(lake)
    real = maintenance.read_files

    def raced(*args: Any) -> pl.DataFrame:
        other.append(LOG, log_rows(50))
        return real(*args)

    monkeypatch.setattr(maintenance, "read_files", raced)
    compact(lake, LOG)
    assert lake.version(LOG) == APPENDS + 1
    rows = Lake(tmp_path / "lake").read(LOG)["delta_version"].sort().to_list()
    assert rows == [*range(APPENDS), 50]
    # The compacted month, and the append it did not read.
    assert len(lake.snapshot(LOG).files) == 2
    assert not verify_lake(Lake(tmp_path / "lake"), deep=True).findings


def test_a_compaction_that_lost_to_another_commits_nothing_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, other = Lake(tmp_path / "lake"), Lake(tmp_path / "lake")
    before = appended(lake)
    won: list[tuple[int, int]] = []
    racing: list[bool] = []
    real = maintenance.read_files

    def raced(*args: Any) -> pl.DataFrame:
        if not racing:
            racing.append(True)  # the winner's own read goes straight through
            won.append(compact(other, LOG))
            files_after_winner.update(data_files(lake))
        return real(*args)

    files_after_winner: set[str] = set()
    monkeypatch.setattr(maintenance, "read_files", raced)
    with pytest.raises(PartitionChanged):
        compact(lake, LOG)
    assert won == [(APPENDS, 1)]
    assert lake.version(LOG) == APPENDS
    assert data_files(lake) == files_after_winner
    assert lake.read(LOG).sort("delta_version").equals(before)
    # The trust tables' upkeep leaves it to the winner rather than failing the step.
    more = Lake(tmp_path / "lake")
    appended(more, 2)
    won.clear()
    racing.clear()
    monkeypatch.setattr(ledger, "COMPACT_AT", 0)
    assert keep_small(more, LOG) is False
    assert won == [(3, 1)]
    assert more.read(LOG).height == APPENDS + 2
