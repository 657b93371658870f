"""What a writer does after its own commit: the new version indexed from the commit's actions,
a checkpoint every CHECKPOINT_EVERY versions whoever wrote the log entry, the ledger written by
name in one transaction, and several tables appended side by side."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from market_spine.errors import LakeDamaged, LakeError
from market_spine.lake import Lake, log_index, snapshots, store
from market_spine.lake import integrity as integrity_module
from market_spine.lake.files import LogListing, checkpoint_name, commit_name
from market_spine.lake.reader import FileEntry, Snapshot, build_snapshot, open_table
from market_spine.lake.store import CHECKPOINT_EVERY
from market_spine_tests.kit.frames import DS, put

LOG = "operations/test_log"


def log_rows(i: int) -> pl.DataFrame:
    at = datetime(2024, 4, 1, 21, tzinfo=UTC) + timedelta(days=i, microseconds=1234)
    return pl.DataFrame(
        {
            "dataset": ["normalized/x"],
            "trade_date": [date(2024, 4, 1) + timedelta(days=i)],
            "state": ["certified"],
            "recorded_at": [at],
            "delta_version": [i],
            "score": [None if i % 2 else 1.5 * i],
        },
        schema={
            "dataset": pl.String,
            "trade_date": pl.Date,
            "state": pl.String,
            "recorded_at": pl.Datetime("us", "UTC"),
            "delta_version": pl.Int64,
            "score": pl.Float64,
        },
    )


def index(snapshot: Snapshot) -> dict[str, tuple[Any, ...]]:
    """A snapshot's files as comparable values (a statistic with no value counts as absent)."""

    def known(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None}

    def entry(f: FileEntry) -> tuple[Any, ...]:
        return (f.path, f.size, f.rows, f.partition, f.partition_raw, known(f.mins), known(f.maxs))

    return {f.rel: entry(f) for f in snapshot.files}


def replayed(lake: Lake, dataset: str) -> Snapshot:
    return build_snapshot(open_table(lake.storage, lake.location(dataset)))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def test_the_version_after_an_own_commit_is_indexed_as_a_replay_of_the_log_indexes_it(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(lake, date(2024, 1, 2), "CL", 1.0)
    lake.append(LOG, log_rows(0))
    lake.snapshot(DS), lake.snapshot(LOG)  # both tables open, as in a running process
    replays: list[str] = []

    def counted(name: str, real: Any) -> Any:
        def spied(*args: Any) -> Any:
            replays.append(name)
            return real(*args)

        return spied

    monkeypatch.setattr(snapshots, "build_snapshot", counted("delta-rs", build_snapshot))
    for name in ("indexed", "advanced"):
        monkeypatch.setattr(log_index, name, counted(name, getattr(log_index, name)))
    # Replacements that rewrite a month's file around the replaced day, new partitions, and
    # appends with dates, timestamps and missing values; past a checkpoint.
    for i in range(1, CHECKPOINT_EVERY + 3):
        put(lake, date(2024, 1, 2 + i % 4), ("CL", "ES")[i % 2], float(i))
        lake.append(LOG, log_rows(i))
        assert index(lake.snapshot(DS)) == index(replayed(lake, DS))
        assert index(lake.snapshot(LOG)) == index(replayed(lake, LOG))
    assert replays == []
    assert lake.snapshot(LOG).version == CHECKPOINT_EVERY + 2
    fresh = Lake(lake.root)
    assert fresh.read(DS).sort("symbol", "ts").equals(lake.read(DS).sort("symbol", "ts"))
    assert fresh.read(LOG).sort("delta_version").equals(lake.read(LOG).sort("delta_version"))


def groups(snapshot: Snapshot) -> dict[tuple[Any, ...], dict[str, Any]]:
    """A snapshot's per-partition lookup arrays as comparable values, by file (a replay lists
    files in its own order)."""
    return {
        key: {
            f.rel: (
                {c: int(a[i]) for c, a in g.mins.items()},
                {c: int(a[i]) for c, a in g.maxs.items()},
            )
            for i, f in enumerate(g.files)
        }
        for key, g in snapshot.groups.items()
    }


def test_appends_extend_the_lookup_arrays_a_replay_would_build(lake: Lake) -> None:
    for i in range(4):
        lake.append(LOG, log_rows(i))
        assert groups(lake.snapshot(LOG)) == groups(replayed(lake, LOG))
    assert "delta_version" in next(iter(lake.snapshot(LOG).groups.values())).mins
    # A file without a statistic for a column drops that column from the arrays, as a replay.
    lake.append(LOG, log_rows(4).with_columns(delta_version=pl.lit(None, pl.Int64)))
    lake.append(LOG, log_rows(5))
    assert groups(lake.snapshot(LOG)) == groups(replayed(lake, LOG))
    assert "delta_version" not in next(iter(lake.snapshot(LOG).groups.values())).mins


def test_every_tenth_version_is_checkpointed_and_recorded_so_an_edit_is_caught(
    lake: Lake,
) -> None:
    for i in range(2 * CHECKPOINT_EVERY + 1):
        lake.append(LOG, log_rows(i))
    log_dir = lake.location(LOG) + "/_delta_log"
    listing = LogListing.of(lake.storage, log_dir)
    assert sorted(listing.checkpoints) == [CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY]
    records = lake.ledger.log_records(LOG)
    assert {checkpoint_name(CHECKPOINT_EVERY), checkpoint_name(2 * CHECKPOINT_EVERY)} <= set(
        records
    )
    assert {commit_name(v) for v in range(2 * CHECKPOINT_EVERY + 1)} <= set(records)
    # A reader in another process starts from the newest checkpoint, checked against its record.
    assert Lake(lake.root).read(LOG).height == 2 * CHECKPOINT_EVERY + 1
    checkpoint = Path(log_dir) / checkpoint_name(2 * CHECKPOINT_EVERY)
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(LakeDamaged, match=r"checkpoint\.parquet differs"):
        Lake(lake.root).read(LOG)


def test_a_writer_records_its_commits_by_name_without_listing_the_log(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.append(LOG, log_rows(0))
    lake.append(LOG, log_rows(1))

    def listed(*_: Any) -> LogListing:
        raise AssertionError("the log was listed")

    monkeypatch.setattr(integrity_module.LogListing, "of", staticmethod(listed))
    # A commit left unrecorded (its writer died before recording it) is recorded by the next.
    with monkeypatch.context() as m:
        m.setattr(lake.ledger, "record_commits", lambda commits: list(commits))
        lake.append(LOG, log_rows(2))
    assert lake.ledger.head(LOG) == 1
    for i in range(3, CHECKPOINT_EVERY + 2):
        lake.append(LOG, log_rows(i))
    records = lake.ledger.log_records(LOG)
    assert {commit_name(v) for v in range(CHECKPOINT_EVERY + 2)} <= set(records)
    assert checkpoint_name(CHECKPOINT_EVERY) in records


def test_append_all_commits_every_table_it_can_and_raises_for_the_one_it_cannot(
    lake: Lake,
) -> None:
    other = "operations/test_other"
    lake.append(LOG, log_rows(0))
    lake.append(other, log_rows(0))
    files = sorted(p.name for p in Path(lake.location(other)).glob("*.parquet"))
    wrong = log_rows(1).with_columns(pl.col("delta_version").cast(pl.String))
    with pytest.raises(LakeError, match="schema"):
        lake.append_all([(LOG, log_rows(1)), (other, wrong)], metadata={"run_id": "r"})
    assert lake.version(LOG) == 1
    assert lake.read(LOG).height == 2
    assert lake.version(other) == 0
    assert sorted(p.name for p in Path(lake.location(other)).glob("*.parquet")) == files
    assert lake.ledger.head(LOG) == 1
    infos = lake.append_all([(LOG, log_rows(2)), (other, log_rows(1))], metadata={"run_id": "r"})
    assert [(i.dataset, i.version, i.rows) for i in infos] == [(LOG, 2, 1), (other, 1, 1)]
    assert lake.history(other, 1)[0]["run_id"] == "r"
    with pytest.raises(LakeError, match="each dataset once"):
        lake.append_all([(LOG, log_rows(3)), (LOG, log_rows(4))])


def test_appended_and_replaced_tables_checkpoint_alike_and_the_ledger_knows_each(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table appended through a log entry the writer wrote and one whose day is replaced
    through delta-rs both checkpoint every CHECKPOINT_EVERY versions (a run opens each table in
    a process of its own and replays every commit since the newest checkpoint). Each
    checkpoint written, and only those, is recorded, so a reader in a new process checks it
    and an edit of it is caught."""
    monkeypatch.setattr(store, "CHECKPOINT_EVERY", 3)
    for i in range(8):
        lake.append(LOG, log_rows(i))
        put(lake, date(2024, 1, 2), "CL", float(i))
    appended = LogListing.of(lake.storage, lake.location(LOG) + "/_delta_log")
    replaced = LogListing.of(lake.storage, lake.location(DS) + "/_delta_log")
    assert sorted(appended.checkpoints) == [3, 6]
    assert sorted(replaced.checkpoints) == [3, 6]
    for table in (LOG, DS):
        recorded = {n for n in lake.ledger.log_records(table) if "checkpoint" in n}
        assert recorded == {checkpoint_name(3), checkpoint_name(6)}
    assert Lake(lake.root).read(LOG).height == 8
    checkpoint = Path(lake.location(LOG)) / "_delta_log" / checkpoint_name(6)
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(LakeDamaged, match=r"checkpoint\.parquet differs"):
        Lake(lake.root).read(LOG)
