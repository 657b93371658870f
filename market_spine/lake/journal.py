"""Appends staged in the lake's ledger and folded into their Delta tables in batches.

A step that keeps a few records in each of several tables (the trust layer's transitions,
revisions, judgments and flags) would pay a Delta commit per table per step: open the table,
write a file, commit, and every tenth time a checkpoint. Journaled, the step's rows for every
table land in one transaction of the lake's integrity ledger (the SQLite file beside a local
lake), and a fold later appends everything pending for a table as one commit. The lake folds a
table before anything reads or writes it (`Lake.exists` is the gate every read passes), so no
reader through the lake sees a journaled table without a row a step recorded; writers fold
every `FOLD_EVERY` steps so the journal stays short for readers outside the lake (DuckDB or
polars on the table's folder).

One process folds at a time, holding a lease row. A fold appends a table's pending rows with
the highest journal sequence number they hold in the commit's metadata (`journal_upto`), then
deletes them from the journal; a folder that died between the two leaves its lease to expire,
and the next one first drops what the table's recent commits say was folded already, so no row
is folded twice or lost.

Only a local lake journals: its ledger is the one file every process that reads the lake opens.
A lake on object storage may be read from nodes whose ledger is their own, so its writers
commit to Delta directly.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    from market_spine.lake.integrity import Ledger

#: The journal's tables in the ledger's SQLite file: one row per table a step wrote (its rows
#: as an Arrow IPC stream), and the single lease row of the process folding.
JOURNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, step TEXT NOT NULL, dataset TEXT NOT NULL,
    rows INTEGER NOT NULL, batch BLOB NOT NULL, metadata TEXT NOT NULL, recorded_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS journal_by_dataset ON journal (dataset, seq);
CREATE TABLE IF NOT EXISTS journal_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT, until REAL NOT NULL,
    abandoned INTEGER NOT NULL DEFAULT 0);
"""
#: Steps journaled before the writer that journals the next one folds them.
FOLD_EVERY = 32
#: Seconds the oldest pending step may wait before a writer folds, however few there are.
FOLD_AFTER_S = 300.0
#: Seconds a fold may hold the lease; a folder silent longer is taken for dead.
LEASE_S = 30.0
#: Commit metadata key: the highest journal sequence number a fold's commit holds.
JOURNAL_UPTO = "journal_upto"
#: Commit metadata key: when the newest step a fold's commit holds was journaled (epoch
#: seconds). A read as of a time at or after it sees the commit's rows, committed later or not.
JOURNALED_LAST = "journaled_last"
#: Recent commits a folder looks through for what a dead folder committed.
RECOVERY_DEPTH = 50

#: Statements to run in the journal's transaction: SQL and the rows to run it over.
Statements = Sequence[tuple[str, list[tuple[Any, ...]]]]


@dataclass(frozen=True)
class Pending:
    """A table's journaled rows, oldest first: the rows, the highest sequence number among
    them, when the newest of them was journaled (epoch seconds), and the run ids of the steps
    that wrote them."""

    dataset: str
    rows: pa.Table
    upto: int
    last_at: float
    runs: tuple[str, ...]


def ipc_bytes(data: pa.Table | pl.DataFrame) -> bytes:
    """`data` as an Arrow IPC stream. A frame is written by polars itself, in the oldest Arrow
    types (no string views): converting it to Arrow first costs several times more, and the
    fold casts every batch to the types Delta stores anyway."""
    if isinstance(data, pl.DataFrame):
        buffer = io.BytesIO()
        data.write_ipc_stream(buffer, compat_level=pl.CompatLevel.oldest())
        return buffer.getvalue()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    """The table an Arrow IPC stream holds."""
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()


class Journal:
    """The journal of a local lake, kept in its ledger's SQLite file."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._process = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._folding = threading.local()

    @property
    def _holder(self) -> str:
        """This thread's name on the lease: two threads of a process fold one at a time too."""
        return f"{self._process}:{threading.get_ident()}"

    # -- staging ------------------------------------------------------------------------------

    def add(
        self,
        writes: Sequence[tuple[str, pa.Table | pl.DataFrame]],
        metadata: Mapping[str, str],
        also: Statements = (),
    ) -> None:
        """Stage one step's rows for each table in `writes`, with the `also` statements of the
        caller, in one transaction: all of them or none."""
        step, now, meta = uuid.uuid4().hex, time.time(), json.dumps(dict(metadata))
        rows = [
            (step, d, len(t), ipc_bytes(t), meta, now)
            for d, t in writes
            if (t.num_rows if isinstance(t, pa.Table) else t.height)
        ]
        self.ledger.write(
            [
                (
                    "INSERT INTO journal (step, dataset, rows, batch, metadata, recorded_at) "
                    "VALUES (?,?,?,?,?,?)",
                    rows,
                ),
                *also,
            ]
        )

    def pending(self, dataset: str) -> bool:
        """Whether `dataset` has journaled rows not yet folded."""
        return bool(self.ledger.query("SELECT 1 FROM journal WHERE dataset=? LIMIT 1", (dataset,)))

    def datasets(self) -> list[str]:
        """The tables with journaled rows not yet folded."""
        return [d for (d,) in self.ledger.query("SELECT DISTINCT dataset FROM journal", ())]

    def due(self, now: float | None = None) -> bool:
        """Whether a writer should fold now: FOLD_EVERY steps pending, or one older than
        FOLD_AFTER_S seconds."""
        [(steps, oldest)] = self.ledger.query(
            "SELECT count(DISTINCT step), min(recorded_at) FROM journal", ()
        ) or [(0, None)]
        if not steps:
            return False
        return steps >= FOLD_EVERY or (now or time.time()) - oldest > FOLD_AFTER_S

    # -- folding ------------------------------------------------------------------------------

    @property
    def folding(self) -> bool:
        """True in the thread folding (its own commits must not fold again)."""
        return getattr(self._folding, "on", False)

    def fold(
        self,
        append: Callable[[str, pa.Table, Mapping[str, Any]], None],
        folded_upto: Callable[[str], int],
    ) -> list[Pending]:
        """Append everything pending to each table with
        `append(dataset, rows, metadata)`, one table at a time in the order they were first
        journaled, deleting each table's rows once committed. Waits while another process
        folds; after a folder that died, first drops what `folded_upto(dataset)` (the highest
        `journal_upto` among the table's recent commits) says it committed. Returns what it
        folded."""
        with self._lease() as abandoned:
            self._folding.on = True
            try:
                if abandoned:
                    for dataset in self.datasets():
                        self._drop(dataset, folded_upto(dataset))
                done = []
                for pending in self._pending():
                    append(
                        pending.dataset,
                        pending.rows,
                        {
                            JOURNAL_UPTO: pending.upto,
                            JOURNALED_LAST: repr(pending.last_at),
                            "run_ids": list(pending.runs),
                        },
                    )
                    self._drop(pending.dataset, pending.upto)
                    done.append(pending)
                return done
            finally:
                self._folding.on = False

    def _pending(self) -> list[Pending]:
        rows = self.ledger.query(
            "SELECT seq, dataset, batch, metadata, recorded_at FROM journal ORDER BY seq", ()
        )
        grouped: dict[str, list[tuple[int, bytes, str, float]]] = {}
        for seq, dataset, batch, meta, at in rows:
            grouped.setdefault(dataset, []).append((seq, batch, meta, at))
        found = []
        for dataset, entries in grouped.items():
            tables = [from_ipc(batch) for _, batch, _, _ in entries]
            runs = dict.fromkeys(json.loads(m).get("run_id", "") for _, _, m, _ in entries)
            found.append(
                Pending(
                    dataset,
                    pa.concat_tables(tables, promote_options="permissive"),
                    max(e[0] for e in entries),
                    max(e[3] for e in entries),
                    tuple(r for r in runs if r),
                )
            )
        return found

    def _drop(self, dataset: str, upto: int) -> None:
        self.ledger.write([("DELETE FROM journal WHERE dataset=? AND seq<=?", [(dataset, upto)])])

    @contextmanager
    def _lease(self) -> Iterator[bool]:
        """Hold the fold lease, waiting while another holds it; yields whether it was taken
        from a folder that died holding it. A fold that raised leaves it as a dead one's, so
        the next folder looks at what it committed."""
        while True:
            now = time.time()
            self.ledger.write(
                [
                    (
                        "INSERT INTO journal_lease (id, holder, until) VALUES (1, ?, ?) "
                        "ON CONFLICT (id) DO UPDATE SET holder=excluded.holder, "
                        "until=excluded.until, abandoned=(journal_lease.holder IS NOT NULL) "
                        "WHERE journal_lease.holder IS NULL OR journal_lease.until < ?",
                        [(self._holder, now + LEASE_S, now)],
                    )
                ]
            )
            [(holder, abandoned)] = self.ledger.query(
                "SELECT holder, abandoned FROM journal_lease WHERE id=1", ()
            )
            if holder == self._holder:
                break
            time.sleep(0.02)
        released = False
        try:
            yield bool(abandoned)
            released = True
        finally:
            self.ledger.write(
                [
                    (
                        "UPDATE journal_lease SET holder=?, until=? WHERE id=1 AND holder=?",
                        [(None if released else self._holder, 0.0, self._holder)],
                    )
                ]
            )


def journaled_by(commit: Mapping[str, Any], instant: float) -> bool:
    """Whether `commit` (a Delta history entry) is a fold whose rows were all journaled by
    `instant` (epoch seconds)."""
    last = commit.get(JOURNALED_LAST)
    return last is not None and float(last) <= instant


def folded_upto(history: Sequence[Mapping[str, Any]]) -> int:
    """The highest `journal_upto` among commits' metadata (Delta history entries); 0: none."""
    found = [int(h[JOURNAL_UPTO]) for h in history if h.get(JOURNAL_UPTO) is not None]
    return max(found, default=0)
