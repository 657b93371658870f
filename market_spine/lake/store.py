"""The Delta Lake store: append-only captures, atomic partition replacement, time travel."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable
from deltalake import Field as DeltaField
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import (
    AddAction,
    PostCommitHookProperties,
    RemoveAction,
    create_table_with_add_actions,
)

from market_spine.errors import (
    HistoryPruned,
    InvalidInput,
    LakeDamaged,
    LakeError,
    NotMaterialized,
)
from market_spine.lake import own_log
from market_spine.lake.arrow import empty_table
from market_spine.lake.as_of import AsOf, parse_as_of
from market_spine.lake.commits import (
    COMPACTION,
    Change,
    CommitInfo,
    Replacement,
    ReplacePlan,
    Unread,
    arrow_of,
    commit_metadata,
)
from market_spine.lake.conflicts import COMMIT_ATTEMPTS, PartitionChanged, changed_in, discard
from market_spine.lake.filters import RowFilter
from market_spine.lake.integrity import LogCommit, ledger_at
from market_spine.lake.journal import (
    JOURNALED_AT,
    RECOVERY_DEPTH,
    Journal,
    TableMoved,
    folded_upto,
    journal_apart,
    journaled_by,
    straddles,
)
from market_spine.lake.reader import FileEntry, Snapshot, open_table, read_files, read_table
from market_spine.lake.snapshots import SnapshotCache
from market_spine.lake.storage import ObjectStoreOptions, location_of, register, storage_at
from market_spine.lake.writer import WrittenFile, delta_arrow, remove_action, write_files

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$")
#: The object at an object-storage lake's root that every commit rewrites, so a watcher learns
#: that something changed from one HEAD request instead of listing every table's log.
CHANGE_MARKER = "_changed"
#: Every commit's writer checkpoints every this many versions (Delta's own default; delta-rs
#: waits 100). A run is a process of its own, so it opens each table it touches cold, replaying
#: every commit since the newest checkpoint: measured on a trust table appended each step, a
#: cold open costs ~9 ms plus ~0.85 ms per commit replayed (~51 ms on average at an interval of
#: 100, ~13 ms at 10), while a checkpoint costs ~10-20 ms once per interval.
CHECKPOINT_EVERY = 10
#: Our commits make their own checkpoints, and never let delta-rs trim the log: pruning does,
#: sparing what pinned versions need (lake/pruning.py).
_HOOKS = PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False)

#: Tables one `append_all` writes side by side (a step keeps at most five trust tables).
WRITE_THREADS = 5

log = logging.getLogger(__name__)

#: Commit metadata key of a commit that only adds columns to a table's schema.
ADDED_COLUMNS = "added_columns"
_T = TypeVar("_T")
#: A table's rows ready to commit: its name, the rows as Delta stores them, the files written.
Prepared = tuple[str, pa.Table, list[WrittenFile]]


def checkpoints(version: int) -> bool:
    """True when the writer of `version` also writes its checkpoint."""
    return version > 0 and version % CHECKPOINT_EVERY == 0


class Lake:
    """Delta tables named `<layer>/<dataset>` under one root (a local folder or an
    `s3://bucket/prefix`), with the platform's reads and writes.

    `options` say how to reach an S3 root (None: the `AWS_*` environment) and `local` is the
    local folder that keeps an S3 lake's integrity ledger (lake/storage.py); a local lake needs
    neither. An S3 root opened before in this process keeps what it was opened with.
    """

    def __init__(
        self,
        root: str | Path,
        options: ObjectStoreOptions | None = None,
        local: Path | None = None,
    ) -> None:
        if options is not None or local is not None:
            register(root, options, local)
        location = location_of(root)
        #: The normalized root: an absolute path, or `s3://bucket/prefix`.
        self.root = location.root
        #: The local folder of the lake's ledger (the root itself for a local lake).
        self.local = location.local
        self.storage = storage_at(self.root)
        self._snapshots = SnapshotCache()
        self.ledger = ledger_at(self.root)
        #: Where a step's small records wait to be folded into their tables (lake/journal.py);
        #: None on object storage, whose writers commit directly.
        self.journal = Journal(self.ledger) if self.storage.local else None
        self._existing: set[str] = set()
        # Threads of one process share each table's open DeltaTable: its version check and
        # commit must not interleave. Commits to different tables may.
        self._committing: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_guard = threading.Lock()

    def location(self, dataset: str) -> str:
        """Where a dataset's table lives (a path or an `s3://` URI); names look like
        `normalized/futures_bars_1m`."""
        if not DATASET_NAME.match(dataset):
            raise InvalidInput(
                f"dataset name {dataset!r} is not '<layer>/<name>' in lower snake case, "
                "e.g. 'normalized/futures_bars_1m'"
            )
        return self.storage.join(self.root, dataset)

    def path(self, dataset: str) -> Path:
        """The local folder of a dataset's table (a lake on object storage has none)."""
        location = self.location(dataset)
        if not self.storage.local:
            raise LakeError(f"{location} is on object storage: it has no local folder")
        return Path(location)

    def exists(self, dataset: str) -> bool:
        """True once the dataset's table has its first commit, False while it was never
        written. Every read passes here, so a table's journaled rows are folded into it first.
        LakeDamaged when the ledger recorded commits of a table whose log is gone: a reader
        must not take a lost table for an empty one (`market-spine verify DATASET
        --start-afresh` is the repair)."""
        found = self.log_present(dataset)
        if not found:
            self._require_known(dataset)
        return found

    def log_present(self, dataset: str) -> bool:
        """Whether the table's Delta log is there, whatever the ledger recorded (`verify`
        and the repairs look at both); journaled rows are folded first."""
        self._settle(dataset)
        if dataset in self._existing:
            return True
        found = self.storage.is_dir(self.storage.join(self.location(dataset), "_delta_log"))
        # A table once seen stays (only a repair removes one): on object storage each look is
        # a LIST request, which reads should not pay every time.
        if found and not self.storage.local:
            self._existing.add(dataset)
        return found

    def layers(self) -> list[str]:
        """The lake's top folders (raw, normalized, ...). Doubles as the probe that the root
        answers: an S3 bucket that refuses or does not answer raises the store's own error."""
        return self.storage.folders(self.root)

    def datasets(self) -> list[str]:
        """Every table in the lake, as `<layer>/<name>` (journaled rows folded first)."""
        self._settle(None)
        store = self.storage
        found = []
        for layer in store.folders(self.root):
            for name in store.folders(store.join(self.root, layer)):
                if DATASET_NAME.match(f"{layer}/{name}") and (
                    store.is_dir(store.join(self.root, layer, name, "_delta_log"))
                ):
                    found.append(f"{layer}/{name}")
        return sorted(found)

    def lost(self, listed: Sequence[str]) -> dict[str, LakeDamaged]:
        """Tables the ledger recorded commits of whose log is gone, with their damage: the
        ones `datasets` cannot list, that readers listing tables must still refuse. `listed`
        is what `datasets` gave the caller: those have their log and are not looked at again."""
        found: dict[str, LakeDamaged] = {}
        present = set(listed)
        for dataset in self.ledger.datasets():
            if dataset in present or not DATASET_NAME.match(dataset):
                continue
            try:
                self.exists(dataset)
            except LakeDamaged as damage:
                found[dataset] = damage
        return found

    # -- the journal --------------------------------------------------------------------------

    def journal_all(
        self,
        writes: Sequence[tuple[str, pl.DataFrame | pa.Table]],
        *,
        metadata: Mapping[str, Any] | None = None,
        also: Sequence[tuple[str, list[tuple[Any, ...]]]] = (),
    ) -> None:
        """Stage rows for several tables in the journal, with the caller's `also` statements
        on the ledger's database, in one transaction; they reach their tables at the next
        fold, before anything reads them (lake/journal.py). A lake that keeps no journal
        (object storage) raises LakeError: append there."""
        if self.journal is None:
            raise LakeError(f"{self.root} is on object storage and keeps no journal: append")
        for dataset, _ in writes:
            self.location(dataset)
        meta = {k: v if isinstance(v, str) else str(v) for k, v in (metadata or {}).items()}
        self.journal.add(writes, meta, also)

    def fold(self) -> list[CommitInfo]:
        """Append the journal's pending rows to their tables, a commit per table; the commits
        made. A table refused because its log is gone keeps its rows journaled (see
        `_settle`)."""
        return self._fold()[0]

    def _fold(self) -> tuple[list[CommitInfo], dict[str, LakeDamaged]]:
        """`fold`: the commits made, and the tables refused with their damage."""
        if self.journal is None:
            return [], {}
        target = _Folding(self)
        refused = self.journal.fold(target).refused
        return target.made, refused

    def _append_on(
        self, dataset: str, rows: pa.Table, metadata: Mapping[str, Any], base: Snapshot | None
    ) -> LogCommit:
        """Append `rows` as one commit landing only on top of `base` (None: the table does not
        exist yet): any commit since adding or removing a file raises PartitionChanged, its
        files discarded."""
        table = delta_arrow(arrow_of(rows))
        root = self.location(dataset)
        if base is None:
            self.ledger.forget(dataset)
        written = write_files(self.storage, root, table, [])
        self.ledger.record_files(dataset, written)
        adds = [w.action for w in written]
        partition_by = list(base.partition_columns) if base is not None else None
        change = Change(
            table.schema, adds, [], partition_by, metadata, table.num_rows, base, RowFilter()
        )
        try:
            committed = self._commit(dataset, change)
        except (LakeError, PartitionChanged):
            discard(self.storage, root, adds)
            raise
        self.ledger.record_commits([committed])
        return committed

    def _settle(self, dataset: str | None) -> None:
        """Fold the journal before `dataset` (any table: None) is read or written, when it has
        rows for it; nothing in the thread already folding. Everything pending is folded, not
        only the table's: the journaled tables stay as consistent with each other as the
        steps that wrote them. A table whose log is gone is left as it is (its reads raise
        the damage, `verify` reports it); its rows stay journaled until it is started afresh
        (`market-spine verify DATASET --start-afresh`)."""
        journal = self.journal
        if journal is None or journal.folding:
            return
        if journal.datasets() if dataset is None else journal.pending(dataset):
            self._fold()

    # -- writes -------------------------------------------------------------------------------

    def append(
        self,
        dataset: str,
        data: pl.DataFrame | pa.Table,
        *,
        partition_by: list[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> CommitInfo:
        """Append rows as one commit; raw captures only ever grow this way. Commits of other
        writers that land first are kept: this one goes on top of them."""
        [info] = self.append_all([(dataset, data)], partition_by=partition_by, metadata=metadata)
        return info

    def append_all(
        self,
        writes: Sequence[tuple[str, pl.DataFrame | pa.Table]],
        *,
        partition_by: list[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[CommitInfo]:
        """Append rows to several tables (distinct datasets), one commit each, as `append`
        does: a step's records in every table it keeps, committed side by side. The integrity
        ledger records all their data files in one transaction before the commits and all
        their commit files in one after. Each table's commit stands alone: when one fails, its
        files are discarded and the error raised once the others are committed and recorded."""
        if len({d for d, _ in writes}) != len(writes):
            raise LakeError("append_all takes each dataset once: concatenate its rows first")

        def prepare(dataset: str, table: pa.Table) -> Prepared:
            self._before_write(dataset)
            written = write_files(self.storage, self.location(dataset), table, partition_by or [])
            return dataset, table, written

        def commit(dataset: str, table: pa.Table, written: list[WrittenFile]) -> LogCommit:
            root = self.location(dataset)
            adds = [w.action for w in written]
            read = self._snapshots.latest(root) if self.exists(dataset) else None
            try:
                change = Change(
                    table.schema, adds, [], partition_by, metadata, table.num_rows, read
                )
                return self._commit(dataset, change)
            except LakeError:
                discard(self.storage, root, adds)
                raise

        # Polars converts on its own pool, where conversions from several threads at once
        # queue behind each other: the frames of a step's records are small, so they are
        # converted here, one after the other. Encoding runs in pyarrow, outside the GIL.
        outcomes = self._each(prepare, [(d, delta_arrow(arrow_of(data))) for d, data in writes])
        prepared = [p for p in outcomes if not isinstance(p, BaseException)]
        self.ledger.record_files_of({d: w for d, _, w in prepared})
        commits = self._each(commit, prepared)
        self.ledger.record_commits(c for c in commits if isinstance(c, LogCommit))
        for outcome in [*outcomes, *commits]:
            if isinstance(outcome, BaseException):
                raise outcome
        return [
            CommitInfo(dataset, c.version, table.num_rows, "append")
            for (dataset, table, _), c in zip(prepared, commits, strict=True)
            if isinstance(c, LogCommit)
        ]

    def rewrite(
        self,
        dataset: str,
        read: Snapshot,
        written: Sequence[WrittenFile],
        removes: Sequence[RemoveAction],
        metadata: Mapping[str, Any],
    ) -> LogCommit:
        """Commit files rewritten from `read`'s files without changing the table's rows
        (compaction: `written` and `removes` both with `data_change=False`) as one version,
        on top of whatever other writers appended since. Raises PartitionChanged, committing
        nothing, when a file it removes was removed since (another compaction won); the
        `written` files are deleted. The integrity ledger records the new files before the
        commit and the commit after it."""
        self.ledger.record_files(dataset, written)
        adds = [w.action for w in written]
        partition_by = list(read.partition_columns)
        change = Change(read.schema, adds, list(removes), partition_by, metadata, 0, read)
        try:
            committed = self._commit(dataset, change)
        except (LakeError, PartitionChanged, DeltaError):
            discard(self.storage, self.location(dataset), adds)
            raise
        self.ledger.record_commits([committed])
        return committed

    def _each(
        self, work: Callable[..., _T], items: Sequence[tuple[Any, ...]]
    ) -> list[_T | Exception]:
        """`work(*item)` for each item, side by side on the lake's threads when there are
        several; each result is its value or the exception it raised."""

        def attempt(item: tuple[Any, ...]) -> _T | Exception:
            try:
                return work(*item)
            except Exception as exc:
                return exc

        if len(items) < 2:
            return [attempt(item) for item in items]
        with self._pool_guard:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="lake-write")
        return list(self._pool.map(attempt, items))

    def replace(
        self,
        dataset: str,
        data: pl.DataFrame | pa.Table,
        *,
        equals: Mapping[str, Any] | None = None,
        between: Mapping[str, tuple[Any, Any]] | None = None,
        partition_by: list[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        return_replaced: bool = False,
    ) -> Replacement:
        """Atomically replace the rows matching the predicate with `data`, as one new version.

        Every row of `data` must match the predicate, so a replacement can never touch rows
        outside the partition it names. Files wholly inside the predicate are dropped; files
        straddling it are rewritten without the matching rows. One commit: readers see either
        the old rows or the new ones, and a crash before the commit leaves only unreferenced files.
        A replacement whose partition another writer changed meanwhile is planned again on the
        newer snapshot, so the partition ends with this writer's rows only (lake/conflicts.py).

        `return_replaced=True` hands back the rows replaced, read from the snapshot the commit
        was planned on (straddling files are read anyway to be rewritten), so a caller that
        compares old and new rows does not read them a second time. A replacement that fails
        commits nothing and hands back nothing.
        """
        equals, between = equals or {}, between or {}
        if not equals and not between:
            raise LakeError(
                f"replacing {dataset} needs a partition to replace: give equals= and/or between="
            )
        wanted = RowFilter(equals, between)
        predicate = str(wanted)
        table = delta_arrow(arrow_of(data))
        index_form = wanted.comparable()
        stray = wanted.rows_outside(table)
        if stray:
            raise LakeError(
                f"replacing {dataset} where {predicate}: {stray} of the new rows do not match the "
                "predicate; a replacement may only write rows inside the partition it replaces"
            )
        root = self.location(dataset)
        self._before_write(dataset)
        written = write_files(self.storage, root, table, partition_by or [])
        self.ledger.record_files(dataset, written)
        fresh = [w.action for w in written]
        for _ in range(COMMIT_ATTEMPTS):
            try:
                plan = self._plan_replace(
                    dataset, wanted, partition_by, table, return_replaced, written
                )
            except BaseException:
                discard(self.storage, root, fresh)
                raise
            try:
                change = Change(
                    table.schema,
                    [*fresh, *plan.rewrites],
                    plan.removes,
                    plan.partition_by,
                    metadata,
                    table.num_rows,
                    plan.read,
                    index_form,
                )
                committed = self._commit(dataset, change)
                break
            except PartitionChanged:
                discard(self.storage, root, plan.rewrites)
            except LakeError:
                discard(self.storage, root, [*fresh, *plan.rewrites])
                raise
        else:
            discard(self.storage, root, fresh)
            raise LakeError(
                f"replacing {dataset} where {predicate}: other writers changed that partition "
                f"{COMMIT_ATTEMPTS} times while this replacement was planned; nothing was "
                "written, run it again once they finish"
            )
        self.ledger.record_commits([committed])
        read = plan.read.version if plan.read else None
        return Replacement(
            dataset,
            committed.version,
            table.num_rows,
            "replace",
            read,
            plan.replaced,
            plan.damaged,
        )

    def _before_write(self, dataset: str) -> None:
        """Refuse to commit over a damaged or lost log (a lost newest commit would be
        overwritten by ours, a lost table made afresh as if new); a table written for the
        first time starts its records afresh."""
        if self.exists(dataset):
            self._snapshots.latest(self.location(dataset))
        else:
            self.ledger.forget(dataset)

    def _plan_replace(
        self,
        dataset: str,
        wanted: RowFilter,
        partition_by: list[str] | None,
        table: pa.Table,
        return_replaced: bool,
        fresh: Sequence[WrittenFile] = (),
    ) -> ReplacePlan:
        """Plan a replacement by `table` (written as `fresh`) on the newest snapshot: files
        wholly inside the filter go, files straddling it are rewritten without the matching
        rows (written and recorded now); with `return_replaced`, the plan keeps the rows it
        replaces."""
        if not self.exists(dataset):
            nothing = _empty_read(table.schema) if return_replaced else None
            return ReplacePlan(None, [], [], partition_by, nothing)
        root = self.location(dataset)
        _, snapshot = self._snapshots.for_write(root)
        partition_by = list(snapshot.partition_columns)
        index_form = wanted.comparable()
        touched = [f for f in snapshot.files if index_form.may_match(f)]
        covered = [f for f in touched if index_form.covers(f)]
        rewrites: list[AddAction] = []
        parts: list[pl.DataFrame] = []
        damaged: list[Unread] = []
        try:
            for f in touched:
                if index_form.covers(f):
                    continue
                rows = read_files(snapshot, (f,))
                if return_replaced:
                    parts.append(rows.filter(wanted.expr()))
                kept = delta_arrow(
                    rows.filter(~wanted.expr()).to_arrow(compat_level=pl.CompatLevel.oldest())
                )
                written = write_files(self.storage, root, kept, partition_by)
                self.ledger.record_files(dataset, written)
                rewrites += [w.action for w in written]
            same = (
                table if not parts and self._same_files(dataset, touched, covered, fresh) else None
            )
            replaced = None
            if return_replaced:
                if same is None:
                    # A repair replaces damaged files whole: they go unread, and the rows
                    # they held are missing from the rows replaced (the caller is told which).
                    damaged = self._unreadable(dataset, covered)
                    gone = {u.damage.path for u in damaged}
                    covered = [f for f in covered if f.rel not in gone]
                replaced = replaced_rows(snapshot, covered, parts, same)
        except BaseException:
            # A file that cannot be read leaves no rewrite behind.
            discard(self.storage, root, rewrites)
            raise
        removes = [remove_action(f.rel, f.size, f.partition_raw) for f in touched]
        return ReplacePlan(snapshot, removes, rewrites, partition_by, replaced, tuple(damaged))

    def _unreadable(self, dataset: str, files: Sequence[FileEntry]) -> list[Unread]:
        """The files of `files` that fail their integrity checks (missing, cut short, other
        bytes than committed), with why."""
        found = []
        for f in files:
            try:
                self.ledger.check_file(dataset, f)
            except LakeDamaged as exc:
                found.append(Unread.of(f, exc))
        return found

    def _same_files(
        self,
        dataset: str,
        touched: Sequence[FileEntry],
        covered: Sequence[FileEntry],
        fresh: Sequence[WrittenFile],
    ) -> bool:
        """True when a replacement removes only whole files and writes the very same ones back:
        each new file has the bytes (SHA-256) and partition a removed one was recorded with, so
        the rows it replaces are its own. A rerun that changed nothing writes such files."""
        if not fresh or len(touched) != len(covered) or len(covered) != len(fresh):
            return False
        removed = []
        for f in covered:
            record = self.ledger.file_record(dataset, f.rel)
            if record is None or record[0] != f.size:
                return False
            removed.append((sorted(f.partition_raw.items()), record[1]))
        written = [(sorted(w.action.partition_values.items()), w.sha256) for w in fresh]
        return sorted(removed) == sorted(written)

    def _commit(self, dataset: str, change: Change) -> LogCommit:
        """`_commit_planned`, with a store that does not answer as LakeUnreachable; the lake's
        change marker is touched once the commit landed."""
        with self.storage.reaching():
            committed = self._commit_planned(dataset, change)
        self.mark_changed(dataset)
        return committed

    def mark_changed(self, dataset: str) -> None:
        """Tell watchers a table of an object-storage lake has a new version: rewrite the
        root's change marker (a local lake's folder times say the same for free)."""
        if not self.storage.local:
            # Unique content: two commits within the store's timestamp resolution still give
            # the marker a new ETag, so no watcher mistakes the second for the first.
            marker = f"{dataset} {uuid.uuid4().hex}".encode()
            self.storage.put(self.storage.join(self.root, CHANGE_MARKER), marker)

    def change_mark(self) -> str | None:
        """What changes whenever a table of an object-storage lake gets a new version: the
        change marker's identity (one HEAD request); None before the first commit, and on a
        local lake (which writes no marker: its folder times say the same)."""
        if self.storage.local:
            return None
        try:
            found = self.storage.stat(self.storage.join(self.root, CHANGE_MARKER))
        except FileNotFoundError:
            return None
        return repr(found.identity)

    def _commit_planned(self, dataset: str, change: Change) -> LogCommit:
        """Commit a change, planned from snapshot `change.read` (None: no table yet), as one
        version; the commit as the integrity ledger records it (with whether its checkpoint
        was written).

        When other commits landed since `read`, the ones that added or removed files in
        `change.region` (what a replacement read, in comparable form) raise PartitionChanged,
        and the caller re-plans; others leave the plan valid and it is committed on top of them
        (see lake/conflicts.py). Raises LakeError, before anything is committed, on a schema
        mismatch or when the table keeps moving.
        """
        schema, adds, removes = change.schema, change.adds, change.removes
        partition_by, read, region = change.partition_by, change.read, change.region
        info = commit_metadata(change.metadata, change.rows)
        props = CommitProperties(custom_metadata=info, max_commit_retries=0)
        uri = self.location(dataset)
        if read is None and self._create(dataset, schema, adds, partition_by, props):
            return LogCommit(dataset, uri, 0)
        planned, base = (read.files, read.version) if read else ((), -1)
        # Appends, and rewrites that change no data, need no replay of the log to commit.
        own_entry = self.storage.local and all(not r.data_change for r in removes)
        for _ in range(COMMIT_ATTEMPTS):
            delta, latest = self._snapshots.for_write(uri)
            if latest.version != base:
                touched = changed_in(region, planned, latest.files)
                if touched:
                    raise PartitionChanged(latest.version, touched)
                gone = {r.path for r in removes} - {f.rel for f in latest.files}
                if gone:
                    # Another writer removed a file this commit removes (a concurrent
                    # compaction): its plan no longer describes the table.
                    lost = [f for f in planned if f.rel in gone]
                    raise PartitionChanged(latest.version, lost)
                planned, base = latest.files, latest.version
            added = journal_added(schema, latest.schema)
            if added:
                self._add_columns(dataset, uri, self._snapshots.table(uri), added)
                continue
            _same_schema(dataset, journal_apart(schema), journal_apart(latest.schema))
            # The same columns (JOURNALED_AT wherever it sits, or absent from the rows): the
            # commit keeps the table's schema.
            schema = latest.schema
            with self._lock_of(uri):
                if own_entry and own_log.writable(latest, partition_by):
                    content = own_log.entry(adds, latest.partition_columns, info, removes)
                    if not own_log.commit(uri, base + 1, content):
                        continue
                    written = self._committed(uri, delta, latest, change)
                    return LogCommit(dataset, uri, base + 1, written)
                delta = self._snapshots.table(uri)
                if delta.version() < base:
                    # Behind by this process's own appends, which delta-rs never loaded.
                    delta.update_incremental()
                if delta.version() != base:
                    continue
                try:
                    delta.create_write_transaction(
                        [*adds, *removes],
                        mode="append",
                        schema=schema,
                        partition_by=partition_by,
                        commit_properties=props,
                        post_commithook_properties=_HOOKS,
                    )
                except CommitFailedError:
                    # With no retries, delta-rs fails a commit that finds the table moved.
                    if not self._moved(uri, base):
                        raise
                    continue
                # With no retries a commit lands on the version it read or not at all; the
                # table may have moved on by the time it is reloaded.
                delta.update_incremental()
                if delta.version() != base + 1:
                    return LogCommit(dataset, uri, base + 1)
                written = self._committed(uri, delta, latest, change)
                return LogCommit(dataset, uri, base + 1, written)
        raise LakeError(
            f"{dataset}: {COMMIT_ATTEMPTS} other commits landed while this write waited to "
            "commit; nothing was written, run it again"
        )

    def _add_columns(
        self, dataset: str, uri: str, delta: DeltaTable, added: Sequence[pa.Field]
    ) -> None:
        """Evolve the table's schema with nullable `added` columns, as a commit of its own
        recorded in the integrity ledger: files written before read them as null. A writer
        racing this one may add them first; the caller reads the table again either way."""
        with self._lock_of(uri):
            try:
                delta.alter.add_columns(
                    [DeltaField.from_arrow(f) for f in added],
                    commit_properties=CommitProperties(
                        custom_metadata=commit_metadata({ADDED_COLUMNS: [f.name for f in added]}, 0)
                    ),
                    post_commithook_properties=_HOOKS,
                )
            except (CommitFailedError, DeltaError) as exc:
                log.info("%s: columns added by a concurrent writer (%s)", dataset, exc)
                return
            self.ledger.record_commits([LogCommit(dataset, uri, delta.version())])

    def _lock_of(self, uri: str) -> threading.Lock:
        with self._locks_guard:
            return self._committing[uri]

    def _committed(
        self, uri: str, delta: DeltaTable | None, read: Snapshot, change: Change
    ) -> bool:
        """After this writer's commit on top of snapshot `read`: checkpoint when it is due
        (every CHECKPOINT_EVERY versions; True when one was written), then index the new
        version from the commit's own actions instead of replaying the log. `delta` is at the
        new version after a delta-rs commit, and left where it was (None: none open) after a
        commit whose log entry was written here (lake/own_log.py): a delta-rs table is opened
        or brought up to date only when a write next needs one. A checkpoint that fails is
        only logged: the commit stands and the next due version writes one."""
        version = read.version + 1
        written = False
        if checkpoints(version):
            try:
                if delta is not None and delta.version() == version:
                    delta.create_checkpoint()
                    # A table reloaded at its checkpoint replays no commit before it.
                    delta = open_table(self.storage, uri, version)
                else:
                    open_table(self.storage, uri, version).create_checkpoint()
                written = True
            except (DeltaError, OSError) as exc:
                log.warning("%s: no checkpoint at version %d (%s)", uri, version, exc)
        removed = [r.path for r in change.removes]
        self._snapshots.committed(uri, delta, read.after(version, change.adds, removed) or read)
        return written

    def _create(
        self,
        dataset: str,
        schema: pa.Schema,
        adds: list[AddAction],
        partition_by: list[str] | None,
        props: CommitProperties,
    ) -> bool:
        """Create the table with the write as version 0; False when another writer created it
        first (the write is then committed on top of theirs, or re-planned)."""
        if self.exists(dataset):
            return False
        uri = self.location(dataset)
        self.storage.make_folder(uri)
        try:
            create_table_with_add_actions(
                uri,
                DeltaSchema.from_arrow(schema),
                adds,
                mode="error",
                partition_by=partition_by,
                storage_options=self.storage.delta_options(),
                commit_properties=props,
            )
        except DeltaError:
            if not self._moved(uri, -1):
                raise
            return False
        return True

    def _moved(self, uri: str, version: int) -> bool:
        """True when the table at `uri` has a version after `version` (a commit raced ours)."""
        log = self.storage.join(uri, "_delta_log")
        return self.storage.exists(self.storage.join(log, f"{version + 1:020d}.json"))

    # -- reads --------------------------------------------------------------------------------

    def table(self, dataset: str, as_of: AsOf = None) -> DeltaTable:
        """The DeltaTable at its latest version, or as of a version number or a timestamp."""
        self._require(dataset)
        self._snapshots.latest(self.location(dataset))  # the log is checked before any replay
        table = open_table(self.storage, self.location(dataset))
        if as_of is not None:
            table.load_as_version(self.resolve_version(dataset, as_of))
        return table

    def snapshot(self, dataset: str, as_of: AsOf = None) -> Snapshot:
        """The indexed file list of the latest version (cached; refreshed on a new commit), or
        of the version a read `as_of` a version number or a time sees."""
        self._require(dataset)
        uri = self.location(dataset)
        if as_of is None:
            return self._snapshots.latest(uri)
        return self._snapshots.at(uri, self.resolve_version(dataset, as_of))

    def version(self, dataset: str) -> int | None:
        """The latest version of a table, or None when it does not exist yet."""
        if not self.exists(dataset):
            return None
        return self._snapshots.latest(self.location(dataset)).version

    def history(self, dataset: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commits newest first, each with its operation, timestamp and our custom metadata."""
        with self.storage.reaching():
            return self.table(dataset).history(limit)

    def read(
        self,
        dataset: str,
        *,
        equals: Mapping[str, Any] | None = None,
        between: Mapping[str, tuple[Any, Any]] | None = None,
        columns: list[str] | None = None,
        as_of: AsOf = None,
    ) -> pl.DataFrame:
        """Rows where `col = value` and `lo <= col <= hi`, pruned by partition, file, row group.
        A journaled table's JOURNALED_AT is the lake's own: returned only when `columns` names
        it."""
        self._require(dataset)
        uri = self.location(dataset)
        cutoff = None
        if as_of is None:
            snapshot = self._snapshots.latest(uri)
        else:
            snapshot, cutoff = self.reading(dataset, as_of)
        wanted = RowFilter(equals or {}, between or {})
        try:
            if JOURNALED_AT not in snapshot.schema.names:
                return read_table(snapshot, wanted, columns)
            names = [c for c in snapshot.schema.names if c != JOURNALED_AT]
            rows = read_table(
                snapshot, wanted, list(dict.fromkeys([*(columns or names), JOURNALED_AT]))
            )
            if cutoff is not None:
                rows = rows.filter(
                    pl.col(JOURNALED_AT).is_null() | (pl.col(JOURNALED_AT) <= cutoff)
                )
            return rows.select(columns or names)
        except FileNotFoundError as exc:
            if not snapshot.past:
                raise
            raise HistoryPruned(
                f"version {snapshot.version} of {dataset} was pruned by maintenance (older than "
                f"the retention and not certified): {exc.filename or exc} is gone. Read a later "
                "version, or a certified one with as_certified=DATE"
            ) from exc

    def _require(self, dataset: str) -> None:
        if not self.exists(dataset):
            raise NotMaterialized(
                f"dataset {dataset} has no data yet: materialize it first "
                "(`market-spine process --date D`)"
            )

    def _require_known(self, dataset: str) -> None:
        """LakeDamaged when the ledger recorded commits of a table whose log is gone."""
        if self.ledger.known(dataset):
            raise self.ledger.log_damage(
                dataset,
                self.location(dataset),
                "its Delta log (`_delta_log`) is gone though commits of it were recorded",
            )

    def resolve_version(self, dataset: str, as_of: AsOf) -> int:
        """The version a read `as_of` a version number or a time sees (None: the latest). A
        version that does not exist, or a time before the first commit, is an error: delta-rs
        would silently answer with the newest or the oldest state instead. A time inside a
        journal fold (see `reading`) names the version before it: a version is whole."""
        return self._resolve(dataset, as_of, partial=False)[0]

    def reading(self, dataset: str, as_of: AsOf) -> tuple[Snapshot, datetime | None]:
        """What a read `as_of` a version or a time starts from: a snapshot, and the instant
        its rows' JOURNALED_AT must not pass (None: every row). A time falling inside a
        journal fold (rows journaled both by then and after, folded later in one commit)
        reads that fold's version, keeping the rows journaled by then: exactly what a read
        through the lake at that time saw, since it folded first."""
        version, cutoff = self._resolve(dataset, as_of, partial=True)
        snapshot = self._snapshots.at(self.location(dataset), version)
        return snapshot, cutoff

    def _resolve(self, dataset: str, as_of: AsOf, *, partial: bool) -> tuple[int, datetime | None]:
        self._require(dataset)
        latest = self.version(dataset) or 0
        if as_of is None:
            return latest, None
        point = parse_as_of(as_of)
        if isinstance(point, int):
            if not 0 <= point <= latest:
                raise InvalidInput(
                    f"as_of version {point} of {dataset} does not exist: "
                    f"it has versions 0..{latest}"
                )
            return point, None
        cutoff_ms = point.timestamp() * 1000
        history = sorted(self.table(dataset).history(), key=lambda h: h["version"])
        commits = [(h["version"], h["timestamp"]) for h in history]
        seen = [v for v, ts in commits if ts <= cutoff_ms]
        # A journaled table's rows are committed when folded: a fold after the cutoff whose
        # rows were all journaled by then (a compaction or a schema's new columns may sit
        # between) belongs to it, and a
        # read (`partial`) takes one holding rows of both sides up to the instant.
        within = None
        for h in history[len(seen) :]:
            if journaled_by(h, point.timestamp()):
                seen.append(h["version"])
            elif partial and straddles(h, point.timestamp()):
                seen.append(h["version"])
                within = point
                break
            elif h.get("maintenance") != COMPACTION and ADDED_COLUMNS not in h:
                break
        if not seen:
            oldest, at = min(commits)
            first = datetime.fromtimestamp(at / 1000, UTC)
            if oldest > 0:
                raise HistoryPruned(
                    f"as_of {point.isoformat()}: the history of {dataset} before "
                    f"{first.isoformat()} (version {oldest}) was pruned by maintenance (older "
                    "than the retention and not certified); pass a later time, or read a "
                    "certified version with as_certified=DATE"
                )
            raise InvalidInput(
                f"as_of {point.isoformat()} is before {dataset} was first written ("
                f"{first.isoformat()}): pass a later time or a version number"
            )
        return max(seen), within


class _Folding:
    """The lake as the tables its journal folds into (`journal.FoldTarget`), keeping the
    commits made."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.made: list[CommitInfo] = []

    def head(self, dataset: str) -> Snapshot | None:
        # A table the ledger knows whose log is gone is damaged, not new (`exists` raises):
        # made afresh, it would hold only the journaled rows and pass `verify`.
        lake = self.lake
        if lake.exists(dataset):
            return lake._snapshots.latest(lake.location(dataset))
        return None

    def folded_upto(self, dataset: str, ledger: str, after: int | None) -> int:
        lake = self.lake
        newest = lake.version(dataset) or 0
        depth = RECOVERY_DEPTH if after is None else max(1, newest - after)
        history = lake.table(dataset).history(depth)
        return folded_upto([h for h in history if after is None or h["version"] > after], ledger)

    def append_on(
        self, dataset: str, rows: pa.Table, metadata: Mapping[str, Any], base: Snapshot | None
    ) -> int:
        try:
            committed = self.lake._append_on(dataset, rows, metadata, base)
        except PartitionChanged as moved:
            raise TableMoved(str(moved)) from moved
        self.made.append(CommitInfo(dataset, committed.version, rows.num_rows, "append"))
        return committed.version


def replaced_rows(
    snapshot: Snapshot,
    covered: Sequence[FileEntry],
    parts: Sequence[pl.DataFrame],
    same: pa.Table | None = None,
) -> pl.DataFrame:
    """The rows of `snapshot` a replacement replaces: every row of the files it `covered`
    (read now, side by side), and the `parts` of the files straddling it, already read whole
    to be rewritten. Columns and types are those of a read of the snapshot. OSError on a
    short read, as `read_files` (never compare against rows silently missing).

    `same` is the replacement's own rows when its files are byte for byte the ones it removes
    (`Lake._same_files`): those are the rows replaced, and nothing is read."""
    if same is not None:
        rows = pl.from_arrow(same)
        assert isinstance(rows, pl.DataFrame)
        names = snapshot.schema.names
        return (
            rows.select(names)
            .cast(dict(snapshot.empty.schema))
            .with_columns(pl.col(pl.Datetime).dt.cast_time_unit("ns"))
        )
    return pl.concat([read_files(snapshot, covered), *parts], how="vertical")


def _empty_read(schema: pa.Schema) -> pl.DataFrame:
    """No rows, with the columns and types a read of a table of `schema` gives."""
    empty = pl.from_arrow(empty_table(schema))
    assert isinstance(empty, pl.DataFrame)
    return empty.with_columns(pl.col(pl.Datetime).dt.cast_time_unit("ns"))


def added_columns(schema: pa.Schema, current: pa.Schema) -> list[pa.Field]:
    """The columns rows of `schema` add to a table of `current` schema, when they only add
    nullable columns after the table's own (same names and types, in order): a schema that
    grew by an optional column, which the table takes on. Empty otherwise."""
    width = len(current)
    if len(schema) <= width:
        return []
    same = [(f.name, f.type) for f in current] == [(f.name, f.type) for f in schema][:width]
    extra = [schema.field(i) for i in range(width, len(schema))]
    if not same or not all(f.nullable for f in extra):
        return []
    return extra


def journal_added(schema: pa.Schema, current: pa.Schema) -> list[pa.Field]:
    """`added_columns`, comparing JOURNALED_AT apart: rows bringing it add it to a table
    without it."""
    added = added_columns(journal_apart(schema), journal_apart(current))
    if JOURNALED_AT in schema.names and JOURNALED_AT not in current.names:
        added.append(schema.field(JOURNALED_AT))
    return added


def _same_schema(dataset: str, schema: pa.Schema, current: pa.Schema) -> None:
    if [(f.name, f.type) for f in current] != [(f.name, f.type) for f in schema]:
        raise LakeError(
            f"{dataset}: the rows' schema {schema.names} / {schema.types} differs from the "
            f"table's {current.names} / {current.types}; declare a new schema version"
        )


@lru_cache(maxsize=16)
def lake_at(
    root: str, options: ObjectStoreOptions | None = None, local: Path | None = None
) -> Lake:
    """One Lake per root (and way to reach it) in a process, so its snapshot and footer caches
    are shared."""
    return Lake(root, options, local)
