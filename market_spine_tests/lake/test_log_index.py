"""A local table's newest version indexed from its Delta log files: the same index delta-rs'
replay gives, no delta-rs table opened by a cold read or an append, and delta-rs again for
whatever the log files alone do not describe."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable

from market_spine.errors import LakeDamaged
from market_spine.lake import Lake, log_index, snapshots
from market_spine.lake.files import LogHead, LogListing, commit_name
from market_spine.lake.maintenance import compact
from market_spine.lake.reader import build_snapshot, open_table
from market_spine.lake.store import CHECKPOINT_EVERY
from market_spine.lake.verify import verify_lake
from market_spine_tests.kit.frames import DS, put
from market_spine_tests.lake.test_own_commits import LOG, index, log_rows, replayed


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables a delta-rs table object is opened for by the lake's snapshots, as they are
    opened."""
    tables: list[str] = []
    real = snapshots.open_table

    def counted(storage: Any, uri: str, *args: Any) -> DeltaTable:
        tables.append(uri.rsplit("/", 2)[-1])
        return real(storage, uri, *args)

    monkeypatch.setattr(snapshots, "open_table", counted)
    return tables


def head(lake: Lake, dataset: str, version: int) -> LogHead:
    """What a replay of `version` of `dataset` reads, by a listing of its log."""
    log_dir = lake.storage.join(lake.location(dataset), "_delta_log")
    return LogListing.of(lake.storage, log_dir).head(version)


def history(lake: Lake) -> None:
    """Both test tables through replacements, appends, a checkpoint, a compaction and a new
    column: every kind of commit the log replay of an index has to apply."""
    for i in range(CHECKPOINT_EVERY + 4):
        put(lake, date(2024, 1, 2 + i % 4), ("CL", "ES")[i % 2], float(i))
        lake.append(LOG, log_rows(i))
    lake.append(LOG, noted(99, "a new column"))
    compact(lake, LOG)
    lake.append(LOG, noted(100))


def noted(i: int, note: str | None = None) -> pl.DataFrame:
    """The log's rows after `history` gave it a `note` column."""
    return log_rows(i).with_columns(note=pl.lit(note, pl.String))


def test_the_log_index_is_the_index_of_delta_rs_replay(lake: Lake) -> None:
    history(lake)
    for dataset in (DS, LOG):
        uri = lake.location(dataset)
        version = lake.version(dataset)
        assert version is not None
        ours = log_index.indexed(lake.storage, uri, head(lake, dataset, version))
        theirs = replayed(lake, dataset)
        assert ours is not None
        assert (ours.version, ours.schema, ours.partition_columns) == (
            theirs.version,
            theirs.schema,
            theirs.partition_columns,
        )
        assert index(ours) == index(theirs)
        assert ours.base_protocol and theirs.base_protocol
        # A past version, from the checkpoint before it and the commits up to it.
        past = log_index.indexed(lake.storage, uri, head(lake, dataset, CHECKPOINT_EVERY + 2))
        assert past is not None
        at = build_snapshot(open_table(lake.storage, uri, CHECKPOINT_EVERY + 2))
        assert index(past) == index(at) and past.version == at.version


def test_a_cold_read_and_an_append_open_no_delta_rs_table(lake: Lake, opened: list[str]) -> None:
    history(lake)
    written = lake.read(LOG).sort("delta_version")
    opened.clear()  # the history's replacements and new column went through delta-rs
    cold = Lake(lake.root)
    assert cold.read(LOG).sort("delta_version").equals(written)
    assert cold.read(DS).sort("symbol", "ts").equals(lake.read(DS).sort("symbol", "ts"))
    cold.append(LOG, noted(101))
    assert opened == []
    # A replacement commits through delta-rs: its table is opened then, once.
    put(cold, date(2024, 1, 2), "CL", 7.0)
    assert opened == ["test_bars"]
    again = Lake(lake.root)
    assert again.read(LOG).height == written.height + 1
    assert again.read(DS, equals={"symbol": "CL", "trade_date": date(2024, 1, 2)})[
        "close"
    ].unique().to_list() == [7.0]
    assert not verify_lake(again, deep=True).findings


def test_another_writers_commits_are_applied_on_top_of_the_kept_index(
    lake: Lake, opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    history(lake)
    opened.clear()
    reading = Lake(lake.root)
    reading.read(LOG)
    writer = Lake(lake.root)
    for i in range(200, 200 + CHECKPOINT_EVERY):
        writer.append(LOG, noted(i))
    advanced: list[bool] = []
    real = log_index.advanced

    def spied(*args: Any) -> Any:
        found = real(*args)
        advanced.append(found is not None)
        return found

    monkeypatch.setattr(log_index, "advanced", spied)
    assert reading.read(LOG).height == writer.read(LOG).height
    assert advanced == [True]
    assert index(reading.snapshot(LOG)) == index(replayed(lake, LOG))
    assert opened == []


def test_a_table_past_the_base_reader_protocol_is_indexed_by_delta_rs(
    lake: Lake, opened: list[str]
) -> None:
    lake.append(LOG, log_rows(0))
    uri = lake.location(LOG)
    log = Path(uri) / "_delta_log"
    first = (log / commit_name(0)).read_text().splitlines()
    # A reader protocol this index does not read (column mapping's version 2): delta-rs
    # refuses or reads it, either way not this index.
    lines = [
        line.replace('"minReaderVersion":1', '"minReaderVersion":2') if "protocol" in line else line
        for line in first
    ]
    assert lines != first
    state = log_index._State()
    state.commit("\n".join(lines).encode())
    assert state.snapshot(uri, 0) is None


def test_a_log_its_files_do_not_describe_is_left_to_delta_rs(lake: Lake, opened: list[str]) -> None:
    """A commit file with broken JSON: the index gives up, and delta-rs' replay says the log is
    damaged, as it did before."""
    for i in range(3):
        lake.append(LOG, log_rows(i))
    uri = lake.location(LOG)
    (Path(uri) / "_delta_log" / commit_name(3)).write_text('{"add": {"path": \n')
    assert log_index.indexed(lake.storage, uri, head(lake, LOG, 3)) is None
    with pytest.raises(LakeDamaged):
        Lake(lake.root).read(LOG)
    assert opened == ["test_log"]
