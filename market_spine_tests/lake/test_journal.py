"""The lake's journal: a step's rows for several tables staged in one transaction of the ledger,
folded into their Delta tables before anything reads or writes them through the lake, each row
exactly once, whatever fails or dies on the way."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable

from market_spine.errors import LakeError
from market_spine.lake import Lake, journal
from market_spine.lake.journal import JOURNAL_UPTO, Journal
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
    assert lake.journal is not None and sorted(lake.journal.datasets()) == [FLAGS, JUDGED]
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
    real = Lake.append

    def failing(self: Lake, dataset: str, *args: Any, **kwargs: Any) -> Any:
        if dataset == JUDGED:
            raise LakeError(f"{dataset}: the commit failed")
        return real(self, dataset, *args, **kwargs)

    monkeypatch.setattr(Lake, "append", failing)
    with pytest.raises(LakeError, match="the commit failed"):
        lake.fold()
    # The first table's commit stands and its rows left the journal; the second's wait.
    assert steps(in_delta(lake, FLAGS)) == [(s, r) for s in range(2) for r in range(2)]
    assert lake.journal is not None and lake.journal.datasets() == [JUDGED]
    monkeypatch.setattr(Lake, "append", real)
    reader = Lake(tmp_path / "lake")
    assert steps(reader.read(JUDGED)) == [(0, 0), (1, 0)]
    assert steps(reader.read(FLAGS)) == [(s, r) for s in range(2) for r in range(2)]


def _die_between_commit_and_delete(root: str) -> None:
    """Fold, and die (no cleanup, as a killed process) once the first table is committed."""
    journal.LEASE_S = 0.5

    def dying(self: Journal, dataset: str, upto: int) -> None:
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
    # A fold holding rows journaled after the instant is left out whole: the instant reads
    # the table as of the folds before it.
    assert {s for s, _ in steps(lake.read(FLAGS, as_of=straddling))} == {0, 1}
    assert {s for s, _ in steps(lake.read(FLAGS))} == {0, 1, 2, 3}
