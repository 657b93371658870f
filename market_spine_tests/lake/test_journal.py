"""The lake's journal: a step's rows for several tables staged in one transaction of the ledger,
folded into their Delta tables before anything reads or writes them through the lake, each row
exactly once, whatever fails or dies on the way."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable

from market_spine.errors import LakeDamaged, LakeError
from market_spine.lake import Lake, journal
from market_spine.lake.journal import JOURNAL_LEDGER, JOURNAL_UPTO, JOURNALED_AT, Journal
from market_spine.lake.verify import start_afresh, verify_lake
from market_spine.warehouse.dbt_plugin.lake_views import refresh_views
from market_spine_tests.kit.s3 import S3Server

FLAGS = "operations/test_flags"
JUDGED = "operations/test_judged"


def rows(step: int, n: int = 2, **extra: Any) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "trade_date": [date(2024, 3, 1 + step % 20)] * n,
            "step": [step] * n,
            "row": list(range(n)),
            **{k: [v] * n for k, v in extra.items()},
        }
    )


def stage(lake: Lake, step: int, run_id: str | None = None) -> None:
    lake.journal_all(
        [(FLAGS, rows(step)), (JUDGED, rows(step, 1))],
        metadata={"run_id": run_id or f"run-{step}"},
    )


def in_delta(lake: Lake, dataset: str) -> pl.DataFrame:
    """The table's rows as a reader outside the lake (delta-rs on its folder) sees them."""
    path = lake.path(dataset)
    if not (path / "_delta_log").exists():
        return pl.DataFrame()
    return pl.from_arrow(DeltaTable(str(path)).to_pyarrow_table())  # type: ignore[return-value]


def steps(frame: pl.DataFrame) -> list[tuple[int, int]]:
    return sorted(frame.select("step", "row").iter_rows())


def test_journaled_rows_wait_in_the_ledger_and_every_read_through_the_lake_sees_them(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    for step in range(3):
        stage(lake, step)
    assert in_delta(lake, FLAGS).is_empty()
    # Tables in the order they were first journaled.
    assert lake.journal is not None and lake.journal.datasets() == [FLAGS, JUDGED]
    # Another process's lake (a new object on the same folder) folds before its read.
    reader = Lake(tmp_path / "lake")
    assert steps(reader.read(FLAGS)) == [(s, r) for s in range(3) for r in range(2)]
    assert lake.journal.datasets() == []
    # Everything pending was folded, not only the table read: the tables stay consistent.
    assert steps(in_delta(lake, JUDGED)) == [(s, 0) for s in range(3)]
    [commit] = [h for h in lake.history(FLAGS) if JOURNAL_UPTO in h]
    assert commit["run_ids"] == '["run-0", "run-1", "run-2"]'
    # Sequence numbers alternate between the two tables: FLAGS holds 1, 3 and 5.
    assert int(commit[JOURNAL_UPTO]) == 5
    assert lake.version(FLAGS) == 0


def test_a_table_only_journaled_exists_and_is_listed(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    stage(lake, 0)
    assert Lake(tmp_path / "lake").datasets() == [FLAGS, JUDGED]
    stage(lake, 1)
    assert Lake(tmp_path / "lake").exists(FLAGS)
    assert Lake(tmp_path / "lake").read(JUDGED).height == 2


def test_a_write_to_a_journaled_table_folds_first_so_it_lands_after_what_was_staged(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    lake.append(FLAGS, rows(0))
    stage(lake, 0)  # the same day again, staged
    replaced = rows(0, 1, replaced=True)
    lake.replace(FLAGS, replaced, between={"trade_date": (date(2024, 3, 1),) * 2})
    # The staged rows were folded before the replacement, which then replaced them too.
    assert lake.read(FLAGS)["replaced"].to_list() == [True]


def test_a_writer_folds_every_fold_every_steps(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(journal, "FOLD_EVERY", 3)
    lake = Lake(tmp_path / "lake")
    assert lake.journal is not None
    for step in range(2):
        stage(lake, step)
    assert not lake.journal.due()
    stage(lake, 2)
    assert lake.journal.due()
    lake.fold()
    assert not lake.journal.due()
    stage(lake, 3)
    assert not lake.journal.due()
    assert lake.journal.due(now=time.time() + journal.FOLD_AFTER_S + 1)


def test_steps_written_by_older_code_fold_with_the_columns_they_lack_as_null(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    lake.journal_all([(FLAGS, rows(0))], metadata={"run_id": "old"})
    lake.journal_all([(FLAGS, rows(1, note="new"))], metadata={"run_id": "new"})
    read = lake.read(FLAGS).sort("step", "row")
    assert read["note"].to_list() == [None, None, "new", "new"]


def test_a_fold_that_fails_part_way_loses_nothing_and_folds_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake")
    for step in range(2):
        stage(lake, step)
    real = Lake._append_on

    def failing(self: Lake, dataset: str, *args: Any, **kwargs: Any) -> Any:
        if dataset == JUDGED:
            raise LakeError(f"{dataset}: the commit failed")
        return real(self, dataset, *args, **kwargs)

    monkeypatch.setattr(Lake, "_append_on", failing)
    with pytest.raises(LakeError, match="the commit failed"):
        lake.fold()
    # The first table's commit stands and its rows left the journal; the second's wait.
    assert steps(in_delta(lake, FLAGS)) == [(s, r) for s in range(2) for r in range(2)]
    assert lake.journal is not None and lake.journal.datasets() == [JUDGED]
    # The failed fold let go of the lease: the next one does not wait.
    [(holder,)] = lake.ledger.query("SELECT holder FROM journal_lease", ())
    assert holder is None
    monkeypatch.setattr(Lake, "_append_on", real)
    reader = Lake(tmp_path / "lake")
    assert steps(reader.read(JUDGED)) == [(0, 0), (1, 0)]
    assert steps(reader.read(FLAGS)) == [(s, r) for s in range(2) for r in range(2)]


def _die_between_commit_and_delete(root: str) -> None:
    """Fold, and die (no cleanup, as a killed process) once the first table is committed."""
    journal.LEASE_S = 0.5

    def dying(self: Journal, *args: Any) -> None:
        os._exit(3)

    Journal._drop = dying  # type: ignore[method-assign]
    Lake(root).fold()


def test_a_folder_that_died_after_its_commit_leaves_rows_the_next_one_does_not_fold_again(
    tmp_path: Path,
) -> None:
    root = str(tmp_path / "lake")
    lake = Lake(root)
    for step in range(3):
        stage(lake, step)
    folder = multiprocessing.get_context("spawn").Process(
        target=_die_between_commit_and_delete, args=(root,)
    )
    folder.start()
    folder.join(60)
    assert folder.exitcode == 3
    # FLAGS was committed, its rows are still journaled, and the lease is the dead folder's.
    assert steps(in_delta(lake, FLAGS)) == [(s, r) for s in range(3) for r in range(2)]
    assert lake.journal is not None and sorted(lake.journal.datasets()) == [FLAGS, JUDGED]
    [(holder,)] = lake.ledger.query("SELECT holder FROM journal_lease", ())
    assert holder is not None
    # The next reader waits out the lease, then drops what the commit holds before folding.
    reader = Lake(root)
    assert steps(reader.read(FLAGS)) == [(s, r) for s in range(3) for r in range(2)]
    assert steps(reader.read(JUDGED)) == [(s, 0) for s in range(3)]
    assert lake.journal.datasets() == []


def test_a_lease_held_by_a_live_folder_is_waited_for(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    stage(lake, 0)
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with Journal(lake.ledger)._lease():
            held.set()
            time.sleep(0.4)
        done.set()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    assert steps(Lake(tmp_path / "lake").read(FLAGS)) == [(0, 0), (0, 1)]
    assert done.is_set()  # the read folded only once the holder let go
    holder.join()


def _stage_and_read(root: str, worker: int, count: int) -> None:
    lake = Lake(root)
    for i in range(count):
        lake.journal_all([(FLAGS, rows(worker * 100 + i))], metadata={"run_id": f"w{worker}"})
        if i % 3 == 2:
            lake.read(FLAGS)
        if i % 5 == 4:
            lake.fold()


def test_processes_staging_and_folding_at_once_fold_every_row_once(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    Lake(root).append(FLAGS, rows(999))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_stage_and_read, args=(root, w, 12)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    read = Lake(root).read(FLAGS)
    expected = [(999, 0), (999, 1)] + [
        (w * 100 + i, r) for w in range(3) for i in range(12) for r in range(2)
    ]
    assert steps(read) == sorted(expected)


def test_a_lake_on_object_storage_keeps_no_journal(s3: S3Server, tmp_path: Path) -> None:
    lake = s3.settings(tmp_path / "home", s3.bucket()).lake()
    assert lake.journal is None
    with pytest.raises(LakeError, match="keeps no journal: append"):
        lake.journal_all([(FLAGS, rows(0))])


def test_a_read_as_of_a_time_sees_what_was_journaled_by_then_though_folded_later(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    lake.append(FLAGS, rows(0))
    stage(lake, 1)
    journaled = datetime.now(UTC)
    time.sleep(0.05)
    lake.fold()  # committed after `journaled`, with rows all journaled by then
    stage(lake, 2)
    time.sleep(0.05)
    straddling = datetime.now(UTC)
    time.sleep(0.05)
    stage(lake, 3)
    lake.fold()  # rows journaled both before and after `straddling`
    assert {s for s, _ in steps(lake.read(FLAGS, as_of=journaled))} == {0, 1}
    # A fold holding rows journaled both before and after the instant is read up to it:
    # what a read through the lake at that instant saw (it folded step 2 first).
    assert {s for s, _ in steps(lake.read(FLAGS, as_of=straddling))} == {0, 1, 2}
    assert lake.read(FLAGS, as_of=straddling, columns=["step"]).columns == ["step"]
    assert {s for s, _ in steps(lake.read(FLAGS))} == {0, 1, 2, 3}
    # A version is whole: the version as of the instant is the one before that fold.
    assert lake.resolve_version(FLAGS, straddling) == lake.version(FLAGS) - 1
    # The warehouse's views as of the instant read the same rows.
    with duckdb.connect() as conn:
        refresh_views(conn, lake, as_of=straddling)
        [(found,)] = conn.execute(
            "SELECT list(DISTINCT step ORDER BY step) FROM operations.test_flags"
        ).fetchall()
        columns = [
            c
            for (c,) in conn.execute(
                "SELECT column_name FROM (DESCRIBE operations.test_flags)"
            ).fetchall()
        ]
    assert found == [0, 1, 2] and JOURNALED_AT not in columns


def test_every_folded_row_says_when_it_was_journaled(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    before = datetime.now(UTC)
    stage(lake, 0)
    after = datetime.now(UTC)
    lake.append(FLAGS, rows(1))  # committed directly: no journal time
    assert JOURNALED_AT not in lake.read(FLAGS).columns  # the lake's own column
    stamps = lake.read(FLAGS, columns=["step", JOURNALED_AT]).sort("step")[JOURNALED_AT]
    assert before <= stamps[0] == stamps[1] <= after and stamps[2:].to_list() == [None, None]


def test_a_live_folder_taken_for_dead_mid_commit_folds_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "LEASE_S", 0.2)
    lake = Lake(tmp_path / "lake")
    for step in range(3):
        stage(lake, step)
    real = Lake._append_on
    slow = threading.Event()

    def stalling(self: Lake, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "slow-folder" and not slow.is_set():
            slow.set()
            time.sleep(1.0)  # past its lease: another folder takes over meanwhile
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Lake, "_append_on", stalling)
    folder = threading.Thread(target=Lake(tmp_path / "lake").fold, name="slow-folder")
    folder.start()
    assert slow.wait(10)
    time.sleep(0.4)
    Lake(tmp_path / "lake").fold()  # takes the expired lease and folds everything
    folder.join(30)
    assert steps(in_delta(lake, FLAGS)) == [(s, r) for s in range(3) for r in range(2)]
    assert steps(in_delta(lake, JUDGED)) == [(s, 0) for s in range(3)]
    assert lake.journal is not None and lake.journal.datasets() == []
    # The slow folder's commit found the table moved, checked again and committed nothing.
    assert [h["version"] for h in lake.history(FLAGS) if JOURNAL_UPTO in h] == [0]


def test_a_ledger_made_afresh_never_takes_an_older_ledgers_folds_for_its_own(
    tmp_path: Path,
) -> None:
    root = tmp_path / "lake"
    lake = Lake(root)
    for step in range(4):
        stage(lake, step)
    lake.fold()  # the old ledger's commits hold journal_upto 8
    lake.ledger.close()
    for path in root.glob("_integrity.sqlite*"):
        path.rename(tmp_path / path.name)  # moved aside, as the damage repair says
    fresh = Lake(root)
    stage(fresh, 10)  # numbered from 1 again, below what the old commits hold
    assert fresh.journal is not None
    [old] = DeltaTable(str(fresh.path(JUDGED))).history()
    assert int(old[JOURNAL_UPTO]) == 8 and old[JOURNAL_LEDGER] != fresh.journal.identity
    assert (10, 0) in steps(fresh.read(JUDGED))
    assert steps(fresh.read(FLAGS)) == [(s, r) for s in (0, 1, 2, 3, 10) for r in range(2)]


def test_a_fold_refuses_a_table_whose_log_is_gone_and_keeps_its_rows(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    stage(lake, 0)
    lake.fold()
    stage(lake, 1)
    shutil.rmtree(lake.path(FLAGS))
    reader = Lake(tmp_path / "lake")
    with pytest.raises(LakeDamaged, match=r"Delta log .* is gone"):
        reader.read(FLAGS)
    # Not made afresh with only the journaled rows; those wait for the repair.
    assert not (lake.path(FLAGS) / "_delta_log").exists()
    assert lake.journal is not None and lake.journal.datasets() == [FLAGS]
    # The other table folds and reads as ever.
    assert steps(reader.read(JUDGED)) == [(0, 0), (1, 0)]
    assert FLAGS not in reader.datasets()
    [finding] = [f for f in verify_lake(reader, [FLAGS]).findings if f.damage]
    assert "--start-afresh" in finding.repair
    # The repair starts it again with the rows still journaled; its history is lost.
    assert start_afresh(reader, FLAGS) is None
    assert steps(reader.read(FLAGS)) == [(1, 0), (1, 1)]
    assert not verify_lake(reader, [FLAGS, JUDGED], deep=True).damaged
    with pytest.raises(LakeError, match="its log is sound"):
        start_afresh(reader, FLAGS)


def test_a_waiter_on_a_held_lease_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(journal, "WAIT_TOLD_S", 0.05)
    lake = Lake(tmp_path / "lake")
    stage(lake, 0)
    held = threading.Event()

    def hold() -> None:
        with Journal(lake.ledger)._lease():
            held.set()
            time.sleep(0.3)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    with caplog.at_level("WARNING", logger="market_spine.lake.journal"):
        Lake(tmp_path / "lake").fold()
    holder.join()
    assert "waiting for the journal's fold held by" in caplog.text
