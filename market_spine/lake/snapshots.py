"""Each table's newest snapshot kept per Lake, refreshed only when a new commit exists, and
past versions in a small LRU; the log's commit files are checked against the integrity ledger
before any of them is read.

A local table at the base reader protocol is indexed from its log files directly
(lake/log_index.py) and a delta-rs table is opened only when a write needs one; any other
table, and every past version, is indexed from delta-rs' replay of its log.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from deltalake import DeltaTable
from deltalake.exceptions import DeltaProtocolError, TableNotFoundError

from market_spine.errors import HistoryPruned, LakeDamaged, LakeError, LakeUnreachable
from market_spine.lake import log_index
from market_spine.lake.files import LogListing
from market_spine.lake.integrity import Ledger, ledger_of
from market_spine.lake.reader import Snapshot, build_snapshot, open_table
from market_spine.lake.storage import Storage

_T = TypeVar("_T")


class SnapshotCache:
    """Keeps each table's latest snapshot open; refreshes it only when a new commit exists."""

    def __init__(self, max_versions: int = 16) -> None:
        self._latest: dict[str, tuple[DeltaTable | None, Snapshot]] = {}
        self._versions: OrderedDict[tuple[str, Any], Snapshot] = OrderedDict()
        self._max_versions = max_versions
        self._lock = threading.Lock()

    def latest(self, uri: str) -> Snapshot:
        """The newest version; a stat of the next log file tells whether anything was committed.

        The commit files about to be read are checked against the lake's ledger first
        (LakeDamaged for a lost, missing or edited commit), and a log delta-rs cannot replay
        is LakeDamaged too, never a bare delta-rs error or a panic.
        """
        ledger, dataset, table_dir = ledger_of(uri)
        store = ledger.storage
        with self._lock:
            cached = self._latest.get(uri)
            if cached is not None:
                table, snapshot = cached
                log = store.join(table_dir, "_delta_log")
                if not store.exists(store.join(log, f"{snapshot.version + 1:020d}.json")):
                    if store.exists(store.join(log, f"{snapshot.version:020d}.json")):
                        return snapshot
                    # Maintenance trimmed the log past this version (another process, or
                    # another Lake): the commits to replay from it are gone, so start afresh.
                    cached = None
            table: DeltaTable | None = None
            if cached is not None:
                table, kept = cached
                # The table object may lag the snapshot by this process's own appends
                # (lake/own_log.py): every commit it may replay is checked.
                since = kept.version if table is None else min(table.version(), kept.version)
                head = ledger.check_head(dataset, table_dir, after=since)
                found = log_index.advanced(store, uri, kept, head.newest)
            else:
                head = ledger.check_head(dataset, table_dir)
                found = None
            found = found or log_index.indexed(store, uri, head)
            newest = head.newest
            if found is not None:
                snapshot = found
            else:
                snapshot, table = self._replayed(uri, table)
            if snapshot.version < newest:
                raise ledger.log_damage(
                    dataset,
                    table_dir,
                    f"delta-rs reads version {snapshot.version} though the log holds commits up "
                    f"to version {newest}",
                )
            self._latest[uri] = (table, snapshot)
            return snapshot

    def _replayed(self, uri: str, table: DeltaTable | None) -> tuple[Snapshot, DeltaTable]:
        """The newest version indexed from delta-rs' replay of the log, on `table` brought up
        to date (or a table opened now)."""
        ledger, dataset, table_dir = ledger_of(uri)
        if table is None:
            opened = _replay(ledger, dataset, table_dir, lambda: open_table(ledger.storage, uri))
        else:
            opened = table
            _replay(ledger, dataset, table_dir, opened.update_incremental)
        return _replay(ledger, dataset, table_dir, lambda: build_snapshot(opened)), opened

    def for_write(self, uri: str) -> tuple[DeltaTable | None, Snapshot]:
        """The open table (None: none opened yet, see `table`) and its snapshot, brought up to
        date, to plan and commit a write from.

        Reusing the open table avoids replaying the log for every daily commit; a writer that
        committed meanwhile is caught by the store's conflict check (lake/conflicts.py).
        """
        self.latest(uri)
        with self._lock:
            return self._latest[uri]

    def table(self, uri: str) -> DeltaTable:
        """The delta-rs table a write commits through, opened (at the newest version, which may
        be past the cached snapshot's) when none is open yet."""
        with self._lock:
            table, snapshot = self._latest[uri]
            if table is None:
                ledger, dataset, table_dir = ledger_of(uri)
                table = _replay(ledger, dataset, table_dir, lambda: open_table(ledger.storage, uri))
                self._latest[uri] = (table, snapshot)
            return table

    def committed(self, uri: str, table: DeltaTable | None, snapshot: Snapshot) -> None:
        """Keep `snapshot`, built from this process's own commit on top of the cached one, as
        the newest of `uri` with `table` at that version: the next read finds it current
        with one stat, without replaying or re-listing the log."""
        with self._lock:
            self._latest[uri] = (table, snapshot)

    def at(self, uri: str, as_of: int | datetime) -> Snapshot:
        """A past version (by number or timestamp), kept in a small LRU because audits repeat."""
        key = (uri, as_of)
        with self._lock:
            if key in self._versions:
                self._versions.move_to_end(key)
                return self._versions[key]
        ledger, dataset, table_dir = ledger_of(uri)
        if isinstance(as_of, int):
            _refuse_pruned(ledger.storage, dataset, table_dir, as_of)
            ledger.check_log(dataset, table_dir, upto=as_of)

        def load() -> Snapshot:
            table = open_table(ledger.storage, uri)
            table.load_as_version(as_of)
            return replace(build_snapshot(table), past=True)

        snapshot = _replay(ledger, dataset, table_dir, load)
        if not isinstance(as_of, int):
            ledger.check_log(dataset, table_dir, upto=snapshot.version)
        with self._lock:
            self._versions[key] = snapshot
            while len(self._versions) > self._max_versions:
                self._versions.popitem(last=False)
        return snapshot


def _refuse_pruned(storage: Storage, dataset: str, table_dir: str, version: int) -> None:
    """HistoryPruned when maintenance trimmed the log `version` is replayed from (it was older
    than the retention and not pinned); a gap anywhere else is left to the ledger's check."""
    listing = LogListing.of(storage, storage.join(table_dir, "_delta_log"))
    oldest = listing.oldest_replayable()
    if oldest is not None and version < oldest and not listing.replays(version):
        raise HistoryPruned(
            f"version {version} of {dataset} was pruned by maintenance (older than the "
            f"retention and not certified); the oldest version still readable is {oldest}. "
            "Certified versions are kept: read them with as_certified=DATE"
        )


def _replay(ledger: Ledger, dataset: str, table_dir: str, load: Callable[[], _T]) -> _T:
    """Run a delta-rs log replay, turning its failure on a broken log into LakeDamaged.

    delta-rs raises several error types for a malformed commit, and a Rust panic (a
    BaseException) for some; neither may reach a caller as a crash or a generic error.
    """
    try:
        # A store that does not answer has damaged nothing: that is no entry in the ledger.
        with ledger.storage.reaching():
            return load()
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except DeltaProtocolError as exc:
        raise LakeError(f"{dataset}: {exc}") from exc
    except BaseException as exc:
        if isinstance(exc, LakeDamaged | LakeUnreachable):
            raise
        if isinstance(exc, (TableNotFoundError, FileNotFoundError)) and not ledger.storage.is_dir(
            ledger.storage.join(table_dir, "_delta_log")
        ):
            raise
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ledger.log_damage(
            dataset,
            table_dir,
            f"delta-rs cannot replay its log ({type(exc).__name__}: {first_line[:300]})",
        ) from exc
