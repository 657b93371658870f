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

One process folds at a time, holding a lease row it renews before each table. A fold appends a
table's pending rows with the highest journal sequence number they hold and the ledger's
identity in the commit's metadata (`journal_upto`, `journal_ledger`), then deletes them from the
journal, noting the version it made. A commit made only on top of a version whose newer commits
were checked for rows this ledger already folded is the guarantee: a folder that died, or was
too slow and was taken over, between its commit and its delete leaves rows the next fold drops,
and two folders committing at once cannot both land. No row is folded twice or lost.

A fold stamps each row with when its step was journaled (`journaled_at`), and its commit with
the first and last of those times, so a read as of a time takes exactly the rows journaled by
then, though they were committed later beside newer ones (`Lake.reading`).

Only a local lake journals: its ledger is the one file every process that reads the lake opens.
A lake on object storage may be read from nodes whose ledger is their own, so its writers
commit to Delta directly.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl
import pyarrow as pa

from market_spine.errors import LakeDamaged, LakeError

if TYPE_CHECKING:
    from market_spine.lake.integrity import Ledger
    from market_spine.lake.reader import Snapshot

log = logging.getLogger(__name__)

#: The journal's tables in the ledger's SQLite file: one row per table a step wrote (its rows
#: as an Arrow IPC stream), the single lease row of the process folding, the ledger's identity
#: and the version of each table its last fold made.
JOURNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, step TEXT NOT NULL, dataset TEXT NOT NULL,
    rows INTEGER NOT NULL, batch BLOB NOT NULL, metadata TEXT NOT NULL, recorded_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS journal_by_dataset ON journal (dataset, seq);
CREATE TABLE IF NOT EXISTS journal_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS journal_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1), ledger TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal_folded (dataset TEXT PRIMARY KEY, version INTEGER NOT NULL);
"""
#: Steps journaled before the writer that journals the next one folds them.
FOLD_EVERY = 32
#: Seconds the oldest pending step may wait before a writer folds, however few there are.
FOLD_AFTER_S = 300.0
#: Seconds a fold holds the lease past its last renewal; a folder silent longer is taken for
#: dead.
LEASE_S = 30.0
#: Seconds a fold waits for another's lease before saying so in the log.
WAIT_TOLD_S = 2.0
#: Times a fold tries again after losing its lease or finding its table moved.
FOLD_ATTEMPTS = 25
#: Commit metadata key: the highest journal sequence number a fold's commit holds.
JOURNAL_UPTO = "journal_upto"
#: Commit metadata key: the identity of the ledger whose journal `journal_upto` numbers.
JOURNAL_LEDGER = "journal_ledger"
#: Commit metadata key: when the newest step a fold's commit holds was journaled (epoch
#: seconds). A read as of a time at or after it sees the commit's rows, committed later or not.
JOURNALED_LAST = "journaled_last"
#: Commit metadata key: when the oldest step a fold's commit holds was journaled (epoch
#: seconds). A read as of a time between it and `journaled_last` sees the commit's rows
#: journaled by then (`JOURNALED_AT`).
JOURNALED_FIRST = "journaled_first"
#: The column a fold adds to every row: when its step was journaled (UTC). Null in rows
#: committed directly, whose commit's time says the same.
JOURNALED_AT = "journaled_at"
#: Recent commits a fold looks through for rows already committed when its ledger has no note
#: of the table's last fold (a ledger made afresh).
RECOVERY_DEPTH = 50

#: Statements to run in the journal's transaction: SQL and the rows to run it over.
Statements = Sequence[tuple[str, list[tuple[Any, ...]]]]


@dataclass(frozen=True)
class Pending:
    """A table's journaled rows, oldest first (each stamped with when it was journaled, in
    JOURNALED_AT): the rows, the highest sequence number among them, when the oldest and the
    newest of them were journaled (epoch seconds), and the run ids of the steps that wrote
    them."""

    dataset: str
    rows: pa.Table
    upto: int
    first_at: float
    last_at: float
    runs: tuple[str, ...]


class LeaseLost(Exception):
    """Another folder took the fold lease, taking this one for dead."""


class TableMoved(Exception):
    """Another commit landed on a table since the version a fold checked."""


class FoldTarget(Protocol):
    """The tables a journal folds into (the lake)."""

    def head(self, dataset: str) -> Snapshot | None:
        """The table's newest snapshot; None when it was never written. LakeDamaged when
        commits of it were recorded but its log is gone."""
        ...

    def folded_upto(self, dataset: str, ledger: str, after: int | None) -> int:
        """The highest `journal_upto` of ledger `ledger` among the table's commits after
        version `after` (None: its RECOVERY_DEPTH newest); 0 when none holds one."""
        ...

    def append_on(
        self, dataset: str, rows: pa.Table, metadata: Mapping[str, Any], base: Snapshot | None
    ) -> int:
        """Append `rows` as one commit on top of `base` and nothing newer; the version made.
        TableMoved, committing nothing, when another commit landed since `base`."""
        ...


@dataclass(frozen=True)
class Folded:
    """What a fold did: the tables folded, and those refused because their log is gone."""

    tables: list[Pending] = field(default_factory=list)
    refused: dict[str, LakeDamaged] = field(default_factory=dict)


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
        self._identity: str | None = None

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
        """The tables with journaled rows not yet folded, in the order they were first
        journaled (a step's transitions before the judgments that record them)."""
        found = self.ledger.query(
            "SELECT dataset FROM journal GROUP BY dataset ORDER BY min(seq)", ()
        )
        return [d for (d,) in found]

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

    @property
    def identity(self) -> str:
        """This ledger's identity, kept in it: a fold's commits name it beside `journal_upto`,
        so sequence numbers of a ledger made afresh (they start at 1 again) are never taken
        for an older one's."""
        if self._identity is None:
            found = self.ledger.query("SELECT ledger FROM journal_identity WHERE id=1", ())
            if not found:
                self.ledger.write(
                    [
                        (
                            "INSERT OR IGNORE INTO journal_identity (id, ledger) VALUES (1, ?)",
                            [(uuid.uuid4().hex,)],
                        )
                    ]
                )
                found = self.ledger.query("SELECT ledger FROM journal_identity WHERE id=1", ())
            self._identity = str(found[0][0])
        return self._identity

    def fold(self, target: FoldTarget) -> Folded:
        """Append everything pending to its tables through `target`, a commit per table, one
        table at a time in the order they were first journaled, deleting each table's rows
        once committed. Waits while another process folds.

        Each table's commit is made only on top of the version whose commits it checked: rows
        a recent commit of this ledger already holds (a folder that died, or was taken for
        dead, between its commit and its delete) are dropped first, and a commit that finds
        the table moved checks again. So no row is folded twice, whoever folds beside it. A
        table the ledger knows whose Delta log is gone is refused (`Folded.refused`): its rows
        wait for the repair, and the table is not made afresh under them."""
        done: list[Pending] = []
        refused: dict[str, LakeDamaged] = {}
        for _ in range(FOLD_ATTEMPTS):
            try:
                with self._lease():
                    self._folding.on = True
                    try:
                        for dataset in self.datasets():
                            if dataset in refused:
                                continue
                            try:
                                folded = self._fold_table(dataset, target)
                            except LakeDamaged as damage:
                                refused[dataset] = damage
                                continue
                            if folded is not None:
                                done.append(folded)
                        return Folded(done, refused)
                    finally:
                        self._folding.on = False
            except LeaseLost:
                # Taken for dead while committing: the taker finishes what is pending, and
                # this fold goes on behind it with whatever is left.
                continue
        raise LakeError(
            f"the journal's fold lost its lease {FOLD_ATTEMPTS} times in a row: a commit takes "
            f"longer than {LEASE_S:.0f} s; look at the lake's storage, then read any table "
            "to fold again"
        )

    def _fold_table(self, dataset: str, target: FoldTarget) -> Pending | None:
        """Commit `dataset`'s pending rows as one commit on top of a version checked for rows
        already committed; what was folded (None: nothing was pending)."""
        for _ in range(FOLD_ATTEMPTS):
            self._renew()
            base = target.head(dataset)
            head = -1 if base is None else base.version
            if head >= 0:
                [known] = self.ledger.query(
                    "SELECT max(version) FROM journal_folded WHERE dataset=?", (dataset,)
                )
                if known[0] != head:
                    # Commits landed since this ledger's last fold of the table: one may hold
                    # rows it still journals.
                    after = known[0] if known[0] is not None and known[0] < head else None
                    committed = target.folded_upto(dataset, self.identity, after)
                    self._drop(dataset, committed, head)
            pending = self._pending(dataset)
            if pending is None:
                return None
            metadata = {
                JOURNAL_UPTO: pending.upto,
                JOURNAL_LEDGER: self.identity,
                JOURNALED_FIRST: repr(pending.first_at),
                JOURNALED_LAST: repr(pending.last_at),
                "run_ids": list(pending.runs),
            }
            try:
                version = target.append_on(dataset, pending.rows, metadata, base)
            except TableMoved:
                continue
            self._drop(dataset, pending.upto, version)
            return pending
        raise LakeError(
            f"{dataset}: other commits kept landing while the journal's fold waited to commit "
            f"({FOLD_ATTEMPTS} tries); its rows stay journaled, read the table to fold again"
        )

    def _pending(self, dataset: str) -> Pending | None:
        entries = self.ledger.query(
            "SELECT seq, batch, metadata, recorded_at FROM journal WHERE dataset=? ORDER BY seq",
            (dataset,),
        )
        if not entries:
            return None
        runs = dict.fromkeys(json.loads(m).get("run_id", "") for _, _, m, _ in entries)
        return Pending(
            dataset,
            pa.concat_tables(
                [stamped(from_ipc(batch), at) for _, batch, _, at in entries],
                promote_options="permissive",
            ),
            max(e[0] for e in entries),
            min(e[3] for e in entries),
            max(e[3] for e in entries),
            tuple(r for r in runs if r),
        )

    def _drop(self, dataset: str, upto: int, version: int) -> None:
        """Delete `dataset`'s rows up to `upto`, which its version `version` holds."""
        self.ledger.write(
            [
                ("DELETE FROM journal WHERE dataset=? AND seq<=?", [(dataset, upto)]),
                (
                    "INSERT INTO journal_folded (dataset, version) VALUES (?, ?) "
                    "ON CONFLICT (dataset) DO UPDATE SET version=excluded.version",
                    [(dataset, version)],
                ),
            ]
        )

    def _renew(self) -> None:
        """Hold the lease LEASE_S seconds more; LeaseLost when another folder took it."""
        now = time.time()
        self.ledger.write(
            [
                (
                    "UPDATE journal_lease SET until=? WHERE id=1 AND holder=?",
                    [(now + LEASE_S, self._holder)],
                )
            ]
        )
        [(holder,)] = self.ledger.query("SELECT holder FROM journal_lease WHERE id=1", ())
        if holder != self._holder:
            raise LeaseLost(f"the journal's fold lease passed to {holder}")

    @contextmanager
    def _lease(self) -> Iterator[None]:
        """Hold the fold lease, waiting while another holds it (saying so once the wait is
        long enough to notice)."""
        started, told = time.time(), False
        while True:
            now = time.time()
            self.ledger.write(
                [
                    (
                        "INSERT INTO journal_lease (id, holder, until) VALUES (1, ?, ?) "
                        "ON CONFLICT (id) DO UPDATE SET holder=excluded.holder, "
                        "until=excluded.until "
                        "WHERE journal_lease.holder IS NULL OR journal_lease.until < ?",
                        [(self._holder, now + LEASE_S, now)],
                    )
                ]
            )
            [(holder, until)] = self.ledger.query(
                "SELECT holder, until FROM journal_lease WHERE id=1", ()
            )
            if holder == self._holder:
                break
            if not told and now - started > WAIT_TOLD_S:
                told = True
                log.warning(
                    "waiting for the journal's fold held by %s (until %s UTC at the latest: a "
                    "folder that died is taken over then) before reading or writing %s",
                    holder,
                    datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S"),
                    self.ledger.where(),
                )
            time.sleep(0.02)
        try:
            yield
        finally:
            self.ledger.write(
                [
                    (
                        "UPDATE journal_lease SET holder=NULL, until=0 WHERE id=1 AND holder=?",
                        [(self._holder,)],
                    )
                ]
            )


def stamped(rows: pa.Table, at: float) -> pa.Table:
    """`rows` with JOURNALED_AT set to `at` (epoch seconds) in every row."""
    micros = pa.array([round(at * 1_000_000)] * rows.num_rows, pa.int64())
    stamp = micros.cast(pa.timestamp("us", tz="UTC"))
    return rows.append_column(pa.field(JOURNALED_AT, stamp.type), stamp)


def journal_apart(schema: pa.Schema) -> pa.Schema:
    """`schema` without JOURNALED_AT: the column a fold adds last, after any column the table
    took on since, that rows committed directly lack (their files read it as null) and that
    reads through the lake leave out."""
    at = schema.get_field_index(JOURNALED_AT)
    return schema if at < 0 else schema.remove(at)


def straddles(commit: Mapping[str, Any], instant: float) -> bool:
    """Whether `commit` is a fold holding rows journaled both by `instant` (epoch seconds) and
    after it: a read as of the instant takes its rows stamped by then."""
    first, last = commit.get(JOURNALED_FIRST), commit.get(JOURNALED_LAST)
    return first is not None and last is not None and float(first) <= instant < float(last)


def journaled_by(commit: Mapping[str, Any], instant: float) -> bool:
    """Whether `commit` (a Delta history entry) is a fold whose rows were all journaled by
    `instant` (epoch seconds)."""
    last = commit.get(JOURNALED_LAST)
    return last is not None and float(last) <= instant


def folded_upto(history: Sequence[Mapping[str, Any]], ledger: str) -> int:
    """The highest `journal_upto` of ledger `ledger` among commits' metadata (Delta history
    entries); 0: none."""
    found = [
        int(h[JOURNAL_UPTO])
        for h in history
        if h.get(JOURNAL_UPTO) is not None and h.get(JOURNAL_LEDGER) == ledger
    ]
    return max(found, default=0)
