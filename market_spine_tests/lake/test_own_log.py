"""Appends to a local table committed by writing their log entry (lake/own_log.py): what delta-rs
and other readers see of them, racing writers, checkpoints, a replacement after them, and the
commits that still go through delta-rs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from market_spine.lake import Lake, own_log
from market_spine.lake.files import checkpoint_name, commit_name
from market_spine.lake.reader import open_table
from market_spine.lake.store import CHECKPOINT_EVERY
from market_spine.lake.verify import verify_lake
from market_spine_tests.lake.test_own_commits import LOG, index, log_rows, replayed

SCHEMA = {"day": pl.Date, "symbol": pl.String, "v": pl.Int64}


def delta_rs_commits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the commits delta-rs makes (its `create_write_transaction`), by table folder."""
    made: list[str] = []
    real = DeltaTable.create_write_transaction

    def counted(self: DeltaTable, *args: Any, **kwargs: Any) -> None:
        made.append(self.table_uri)
        real(self, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "create_write_transaction", counted)
    return made


def test_an_append_is_committed_without_delta_rs_and_reads_as_delta_rs_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake")
    lake.append(LOG, log_rows(0), metadata={"run_id": "r0"})
    made = delta_rs_commits(monkeypatch)
    info = lake.append(LOG, log_rows(1), metadata={"run_id": "r1", "capture_id": "c1"})
    assert made == []
    assert info.version == 1
    # delta-rs, in a fresh table object, reads what the lake's own index holds.
    fresh = open_table(lake.storage, lake.location(LOG))
    assert fresh.version() == 1
    assert index(lake.snapshot(LOG)) == index(replayed(lake, LOG))
    assert (
        pl.from_arrow(fresh.to_pyarrow_table())
        .sort("delta_version")
        .equals(pl.concat([log_rows(0), log_rows(1)]))
    )
    [newest, _] = fresh.history()
    assert newest["operation"] == "WRITE"
    assert newest["operationParameters"]["mode"] == "Append"
    assert (newest["run_id"], newest["capture_id"], newest["rows"]) == ("r1", "c1", "1")
    # Other Delta readers: polars' own scan, and the lake read of a new process.
    assert pl.read_delta(lake.location(LOG)).height == 2
    assert Lake(tmp_path / "lake").read(LOG)["delta_version"].sort().to_list() == [0, 1]
    assert not verify_lake(Lake(tmp_path / "lake"), deep=True).findings


def test_two_writers_appending_in_turn_lose_nothing(tmp_path: Path) -> None:
    """Two lakes on one root stand for two processes: each append lands on the version after
    the other's, though each one's table object last saw its own commit."""
    first, second = Lake(tmp_path / "lake"), Lake(tmp_path / "lake")
    first.append(LOG, log_rows(0))
    versions = []
    for i in range(1, 7):
        writer = first if i % 2 else second
        versions.append(writer.append(LOG, log_rows(i)).version)
    assert versions == [1, 2, 3, 4, 5, 6]
    for lake in (first, second, Lake(tmp_path / "lake")):
        assert lake.read(LOG)["delta_version"].sort().to_list() == list(range(7))
    assert not verify_lake(Lake(tmp_path / "lake"), deep=True).findings


def test_an_append_whose_version_another_writer_took_lands_on_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other writer commits between this writer's look at the log and its link: the link
    fails on the taken name, and the append goes on top of the other's commit."""
    lake, other = Lake(tmp_path / "lake"), Lake(tmp_path / "lake")
    lake.append(LOG, log_rows(0))
    lake.snapshot(LOG)
    real = own_log.commit
    raced = []

    def racing(table_dir: str, version: int, content: bytes) -> bool:
        if not raced:
            raced.append(version)
            other.append(LOG, log_rows(50))
        return real(table_dir, version, content)

    monkeypatch.setattr(own_log, "commit", racing)
    info = lake.append(LOG, log_rows(1))
    assert raced == [1]
    assert info.version == 2
    assert lake.read(LOG)["delta_version"].sort().to_list() == [0, 1, 50]
    leftovers = [p.name for p in (Path(lake.location(LOG)) / "_delta_log").iterdir()]
    assert not [n for n in leftovers if n.endswith(".tmp")]


def test_appends_checkpoint_and_a_new_process_starts_there(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    for i in range(CHECKPOINT_EVERY + 1):
        lake.append(LOG, log_rows(i))
    log_dir = Path(lake.location(LOG)) / "_delta_log"
    assert (log_dir / checkpoint_name(CHECKPOINT_EVERY)).exists()
    # A checkpoint replaces the commits before it: without them the table still reads whole.
    for v in range(CHECKPOINT_EVERY):
        (log_dir / commit_name(v)).unlink()
    fresh = DeltaTable(lake.location(LOG))
    assert fresh.version() == CHECKPOINT_EVERY
    assert fresh.to_pyarrow_table().num_rows == CHECKPOINT_EVERY + 1


def test_a_replacement_after_appends_of_the_same_process_commits_on_top_of_them(
    tmp_path: Path,
) -> None:
    """The table object delta-rs commits a replacement from was left before the appends; it is
    brought up to them first, never committed from a version it has not seen."""
    lake = Lake(tmp_path / "lake")
    rows = [
        pl.DataFrame({"day": [date(2024, 4, d)], "symbol": ["CL"], "v": [d]}, schema=SCHEMA)
        for d in (1, 2, 3)
    ]
    for r in rows:
        lake.append("raw/bars", r)
    changed = rows[1].with_columns(v=pl.lit(20, pl.Int64))
    done = lake.replace("raw/bars", changed, equals={"day": date(2024, 4, 2)})
    assert done.version == 3
    assert done.read_version == 2
    assert lake.read("raw/bars").sort("day")["v"].to_list() == [1, 20, 3]
    assert Lake(tmp_path / "lake").read("raw/bars").sort("day")["v"].to_list() == [1, 20, 3]


def test_a_table_with_writer_features_is_appended_by_delta_rs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table the lake did not create may need more of a writer than adding files (here the
    change data feed): its appends are left to delta-rs."""
    lake = Lake(tmp_path / "lake")
    location = lake.location(LOG)
    Path(location).mkdir(parents=True)
    first = log_rows(0).to_arrow(compat_level=pl.CompatLevel.oldest())
    write_deltalake(
        location, first, configuration={"delta.enableChangeDataFeed": "true"}, mode="error"
    )
    assert DeltaTable(location).protocol().min_writer_version > 2
    made = delta_rs_commits(monkeypatch)
    lake.append(LOG, log_rows(1))
    assert len(made) == 1
    assert DeltaTable(location).version() == 1


def test_a_writer_stopped_before_linking_its_entry_leaves_the_table_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped between staging the entry and linking it: no version, a staged file readers
    ignore, and the next append (of another process) lands on the version it would have."""
    lake = Lake(tmp_path / "lake")
    lake.append(LOG, log_rows(0))

    def stopped(*_: Any) -> None:
        raise KeyboardInterrupt("the process stops here")

    monkeypatch.setattr(own_log.os, "link", stopped)
    with pytest.raises(KeyboardInterrupt):
        lake.append(LOG, log_rows(1))
    monkeypatch.undo()
    log_dir = Path(lake.location(LOG)) / "_delta_log"
    # A process really stopped here would leave its staged entry behind.
    (log_dir / "_commit_stopped.json.tmp").write_bytes(b'{"add":{}}\n')
    after = Lake(tmp_path / "lake")
    assert after.version(LOG) == 0
    assert after.read(LOG)["delta_version"].to_list() == [0]
    assert after.append(LOG, log_rows(2)).version == 1
    assert Lake(tmp_path / "lake").read(LOG)["delta_version"].sort().to_list() == [0, 2]
    assert not [f for f in verify_lake(Lake(tmp_path / "lake")).findings if f.damage]


def test_appends_to_a_partitioned_table_keep_their_partition_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake")
    rows = pl.DataFrame(
        {"day": [date(2024, 4, 1)] * 2, "symbol": ["CL", "ES"], "v": [1, 2]}, schema=SCHEMA
    )
    lake.append("raw/bars", rows, partition_by=["symbol"])
    made = delta_rs_commits(monkeypatch)
    lake.append("raw/bars", rows.with_columns(v=pl.col("v") * 10), partition_by=["symbol"])
    assert made == []
    fresh = Lake(tmp_path / "lake")
    assert fresh.read("raw/bars", equals={"symbol": "ES"})["v"].sort().to_list() == [2, 20]
    # delta-rs, replaying the log, finds each file in its partition.
    files = replayed(lake, "raw/bars").files
    assert sorted(f.partition_raw["symbol"] for f in files) == ["CL", "CL", "ES", "ES"]
    assert all(f.rel.startswith(f"symbol={f.partition_raw['symbol']}/") for f in files)
