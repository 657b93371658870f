"""The lake's integrity ledger: the size and SHA-256 of every data file and every log file, as
they were when committed, kept beside the lake in SQLite (`<lake>/_integrity.sqlite`), or, for a
lake on object storage whose home sets `state_database`, in the schema `market_spine_lake_ledger`
of the PostgreSQL every node reaches, so each node checks the others' commits too.

Delta's log can say nothing about its own damage: a deleted newest commit reads as an older
table, an edited statistic prunes rows away, a flipped bit in a Parquet page decodes as a wrong
price. The ledger is the independent memory that turns each of those into a `LakeDamaged`:

- before delta-rs replays a log, the commit files it will read are compared with their records,
  and a version the ledger knows but the log lacks is a lost commit;
- before a data file is read, its size is compared with the log's, and the first time a process
  sees the file (keyed by size, mtime, ctime and inode, so any rewrite is seen again) its
  SHA-256 with the recorded one — which also covers the footer and page headers that Parquet's
  page checksums leave out. Files without a record (written before the ledger) are read whole
  once with their page checksums verified instead.

Writers record data files before their commit (a crash leaves only records of orphans) and the
commit files after it; a reader reads the records before listing the log, so a commit another
process records meanwhile is in the listing too. SQLite runs in WAL mode with a busy timeout, so
several processes may write at once; records are keyed by name, so their order does not matter.
A PostgreSQL that cannot be reached is `StateUnavailable`, never damage.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import tenacity

from market_spine.errors import LakeDamaged, StateUnavailable
from market_spine.lake import repair
from market_spine.lake.files import LogHead, LogListing, checkpoint_name, commit_name, unreadable
from market_spine.lake.journal import JOURNAL_SCHEMA
from market_spine.lake.storage import (
    Storage,
    location_of,
    normalize_root,
    split_table,
    storage_at,
    storage_of_root,
)

if TYPE_CHECKING:
    from market_spine.lake.reader import FileEntry
    from market_spine.lake.writer import WrittenFile
    from market_spine.state_db.database import StateConnection, StateDatabase

_T = TypeVar("_T")

LEDGER_FILE = "_integrity.sqlite"
#: The ledger's store name: its PostgreSQL schema is `market_spine_lake_ledger`.
LEDGER_STORE = "lake_ledger"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_files (
    dataset TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
    partition TEXT NOT NULL, first_day TEXT, last_day TEXT, recorded_at TEXT NOT NULL,
    PRIMARY KEY (dataset, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_files (
    dataset TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, recorded_at TEXT NOT NULL,
    PRIMARY KEY (dataset, name)) WITHOUT ROWID;
"""
#: The same tables on PostgreSQL: no WITHOUT ROWID, and 64-bit sizes (its INTEGER is 32-bit).
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_files (
    dataset TEXT NOT NULL, path TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL,
    partition TEXT NOT NULL, first_day TEXT, last_day TEXT, recorded_at TEXT NOT NULL,
    PRIMARY KEY (dataset, path));
CREATE TABLE IF NOT EXISTS log_files (
    dataset TEXT NOT NULL, name TEXT NOT NULL, version BIGINT NOT NULL, size BIGINT NOT NULL,
    sha256 TEXT NOT NULL, recorded_at TEXT NOT NULL,
    PRIMARY KEY (dataset, name));
"""
_RECORD_FILE = """
INSERT INTO data_files VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (dataset, path) DO UPDATE SET
    size=excluded.size, sha256=excluded.sha256, partition=excluded.partition,
    first_day=excluded.first_day, last_day=excluded.last_day, recorded_at=excluded.recorded_at
"""
_RECORD_LOG = """
INSERT INTO log_files VALUES (?,?,?,?,?,?) ON CONFLICT (dataset, name) DO UPDATE SET
    version=excluded.version, size=excluded.size, sha256=excluded.sha256,
    recorded_at=excluded.recorded_at
"""


#: Commits a writer records by name past the newest recorded one; further behind (a ledger
#: started afresh beside an old table), it lists the log instead.
CATCH_UP = 100


@dataclass(frozen=True)
class LogCommit:
    """A commit this process just made: the table, its folder, the version, and whether a
    checkpoint of that version was written with it."""

    dataset: str
    table_dir: str
    version: int
    checkpoint: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@tenacity.retry(
    retry=tenacity.retry_if_exception_type(sqlite3.OperationalError),
    wait=tenacity.wait_random(0.01, 0.2),
    stop=tenacity.stop_after_delay(30),
    reraise=True,
)
def _enter_wal(conn: sqlite3.Connection) -> None:
    """Switch a new ledger to write-ahead logging. SQLite answers "database is locked" at once,
    without its busy timeout, when two processes switch the same new file, so the switch retries."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode=WAL")


class Ledger:
    """The integrity records of a lake, kept in the local folder `local` (the lake's own folder,
    or the home's lake folder for a lake on object storage), and the checks that use them.
    `SharedLedger` keeps them in PostgreSQL instead."""

    #: The PostgreSQL database of the records; None for the SQLite file.
    database: StateDatabase | None = None

    def __init__(self, local: str | Path, lake_root: str | None = None) -> None:
        self.root = Path(local)
        self.path = self.root / LEDGER_FILE
        self._lake_root = normalize_root(lake_root or str(local))
        self._local = threading.local()
        self._verified: set[tuple[Any, ...]] = set()

    def where(self) -> str:
        """Where the records are, for messages (never a password)."""
        return str(self.path)

    @property
    def storage(self) -> Storage:
        """The lake's storage as registered now: a run's registration (its User-Agent names
        the run) reaches every table opened and read through this ledger after it."""
        return storage_of_root(self._lake_root)

    # -- storage ------------------------------------------------------------------------------

    def _conn(self, write: bool = False) -> sqlite3.Connection | None:
        """This thread's connection to the SQLite file; None for a reader when the lake has no
        ledger yet."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if not write and not self.path.exists():
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        _enter_wal(conn)
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a transaction that
        # returned survives a crash of the process and the file is never corrupted; only an
        # OS crash or power loss may roll back the newest ones. A ledger that lost records
        # only knows less (unrecorded files are verified whole on first read, and the next
        # writer records commits from its newest known one by name), never more than the
        # log, whose own commit files are not synced either; so are the journal's trust
        # records, which no Delta commit holds yet. FULL cost a sync per write.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA + JOURNAL_SCHEMA)
        self._local.conn = conn
        return conn

    def _damaged(self, exc: sqlite3.DatabaseError) -> LakeDamaged:
        return LakeDamaged(
            "the lake",
            f"its integrity ledger {self.path} cannot be read ({exc})",
            partition="every table",
            repair=f"move {self.path} aside; later commits start a new one "
            "(`market-spine verify` then reports the tables it no longer covers; trust records "
            "journaled and not yet folded go with it: capture those days again to judge them)",
        )

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            conn = self._conn()
            if conn is None:
                return []
            return conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def _write(self, statements: Iterable[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Run each statement over its rows in one transaction (one sync, the store's write
        lock held), or none of them when any fails."""
        batches = [(sql, rows) for sql, rows in statements if rows]
        if not batches:
            return
        try:
            conn = self._conn(write=True)
        except sqlite3.OperationalError:
            raise  # busy or out of space: not damage
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in batches:
                conn.executemany(sql, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Rows of a statement on the ledger's database (none while it has no file)."""
        return self._query(sql, args)

    def write(self, statements: Iterable[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Run each statement over its rows in one transaction, or none of them."""
        self._write(statements)

    def prepare(self, ddl: str) -> None:
        """Make a caller's tables in the ledger's database (`ddl`, idempotent), once per
        connection."""
        conn = self._conn(write=True)
        assert conn is not None
        made = getattr(self._local, "prepared", None)
        if made is None or made[0] is not conn:
            made = self._local.prepared = (conn, set())
        if ddl not in made[1]:
            conn.executescript(ddl)
            made[1].add(ddl)

    def close(self) -> None:
        """Close this thread's connection (tests and tools that delete the lake call it)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- records ------------------------------------------------------------------------------

    def record_files(self, dataset: str, written: Iterable[WrittenFile]) -> None:
        """Record new data files (before their commit): path, size, SHA-256, what they cover."""
        self.record_files_of({dataset: written})

    @staticmethod
    def _file_rows(dataset: str, written: Iterable[WrittenFile]) -> list[tuple[Any, ...]]:
        rows = []
        for w in written:
            stats = json.loads(w.action.stats or "{}")
            partition = dict(w.action.partition_values)
            first = stats.get("minValues", {}).get("trade_date", partition.get("trade_date"))
            last = stats.get("maxValues", {}).get("trade_date", partition.get("trade_date"))
            rows.append(
                (
                    dataset,
                    w.action.path,
                    w.action.size,
                    w.sha256,
                    json.dumps(partition),
                    first,
                    last,
                    _now(),
                )
            )
        return rows

    def record_files_of(self, written: Mapping[str, Iterable[WrittenFile]]) -> None:
        """Record the new data files of several tables (before their commits) in one
        transaction: one sync of the ledger however many tables a step writes."""
        rows = [
            row for dataset, files in written.items() for row in self._file_rows(dataset, files)
        ]
        self._write([(_RECORD_FILE, rows)])

    def record_commits(self, commits: Iterable[LogCommit]) -> None:
        """Record commits this process just made, in one transaction: each commit file (and
        those between the newest recorded one and it, which precede it in the log) read by
        name, and the checkpoint written with it. Nothing is listed: the writer knows the
        version it committed. A table whose records are far behind, or whose commits before
        this one are gone, is recorded by listing its log instead (`record_log`)."""
        rows: list[tuple[Any, ...]] = []
        for c in commits:
            head = self.head(c.dataset)
            start = -1 if head is None else head
            if c.version - start > CATCH_UP:
                self.record_log(c.dataset, c.table_dir)
                continue
            log_dir = self.storage.join(str(c.table_dir), "_delta_log")
            names = [(commit_name(v), v) for v in range(min(start + 1, c.version), c.version + 1)]
            if c.checkpoint:
                names.append((checkpoint_name(c.version), c.version))
            try:
                rows += [self._log_row(c.dataset, log_dir, name, v) for name, v in names]
            except FileNotFoundError:
                self.record_log(c.dataset, c.table_dir)
        self._write([(_RECORD_LOG, rows)])

    def record_log(self, dataset: str, table_dir: str | Path) -> None:
        """Record the commit files newer than the last recorded one, and new checkpoints."""
        store = self.storage
        log_dir = store.join(str(table_dir), "_delta_log")
        known = set(self.log_records(dataset))
        head = self.head(dataset)
        version = -1 if head is None else head
        listing = LogListing.of(store, log_dir)
        rows = []
        while commit_name(version + 1) in listing.names:
            version += 1
            rows.append(self._log_row(dataset, log_dir, commit_name(version), version))
        for v, names in listing.checkpoints.items():
            rows += [self._log_row(dataset, log_dir, n, v) for n in names if n not in known]
        self._write([(_RECORD_LOG, rows)])

    def _log_row(self, dataset: str, log_dir: str, name: str, version: int) -> tuple[Any, ...]:
        data = self.storage.read(self.storage.join(log_dir, name))
        return (dataset, name, version, len(data), hashlib.sha256(data).hexdigest(), _now())

    def forget(self, dataset: str) -> None:
        """Drop a table's records: its folder is gone and a first commit starts it afresh."""
        self._write(
            [
                ("DELETE FROM log_files WHERE dataset=?", [(dataset,)]),
                ("DELETE FROM data_files WHERE dataset=?", [(dataset,)]),
            ]
        )

    def head(self, dataset: str) -> int | None:
        """The newest commit version recorded for the table, or None."""
        # The key's order is the versions' (zero-padded names): the newest commit is found
        # walking it backwards, not by reading every record of the table.
        rows = self._query(
            "SELECT version FROM log_files WHERE dataset=? AND name LIKE '%.json' "
            "ORDER BY name DESC LIMIT 1",
            (dataset,),
        )
        return rows[0][0] if rows else None

    def log_records(self, dataset: str, since: int = 0) -> dict[str, tuple[int, int, str]]:
        """Every recorded log file of the table from version `since` on: name → (version,
        size, sha256). Names are zero-padded versions, so `since` is a range of the key."""
        rows = self._query(
            "SELECT name, version, size, sha256 FROM log_files WHERE dataset=? AND name>=?",
            (dataset, f"{since:020d}"),
        )
        return {name: (version, size, sha) for name, version, size, sha in rows}

    def file_record(self, dataset: str, path: str) -> tuple[int, str] | None:
        """(size, sha256) recorded for a data file, or None when it was never recorded."""
        rows = self._query(
            "SELECT size, sha256 FROM data_files WHERE dataset=? AND path=?", (dataset, path)
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def file_records(self, dataset: str) -> dict[str, tuple[int, str]]:
        """Every recorded data file of the table: path → (size, sha256)."""
        rows = self._query("SELECT path, size, sha256 FROM data_files WHERE dataset=?", (dataset,))
        return {path: (size, sha) for path, size, sha in rows}

    def known(self, dataset: str) -> bool:
        """True when the ledger has ever recorded a commit of the table."""
        return self.head(dataset) is not None

    def datasets(self) -> list[str]:
        """Every table the ledger has recorded a commit of."""
        return [d for (d,) in self._query("SELECT DISTINCT dataset FROM log_files", ())]

    def span(self, dataset: str | None = None) -> tuple[date | None, date | None]:
        """The first and last trade date any recorded file of the table (or lake) held."""
        if dataset is None:
            rows = self._query("SELECT min(first_day), max(last_day) FROM data_files", ())
        else:
            rows = self._query(
                "SELECT min(first_day), max(last_day) FROM data_files WHERE dataset=?", (dataset,)
            )
        if not rows:
            return None, None
        return repair.day_of(rows[0][0]), repair.day_of(rows[0][1])

    # -- checks -------------------------------------------------------------------------------

    def log_damage(self, dataset: str, table_dir: str | Path, message: str) -> LakeDamaged:
        """A damaged log: the whole table is affected, and rebuilt from the raw captures."""
        first, last = self.span(dataset)
        return LakeDamaged(
            dataset,
            message,
            partition="its Delta log: the whole table",
            repair=repair.log_repair(table_dir, dataset, first, last),
            path="_delta_log",
        )

    def check_head(self, dataset: str, table_dir: str | Path, *, after: int = -1) -> LogHead:
        """Check the log files a replay of the newest version reads, skipping the commits up
        to `after` (already checked); what that replay reads.

        A table the ledger has recorded commits of is looked at from its newest checkpoint on,
        without listing its log (`LogHead.probed`); a gap then ends the probe early, and reads
        as the lost commits after it. Raises LakeDamaged as `check_log` does.
        """
        log_dir = self.storage.join(str(table_dir), "_delta_log")
        # Records first: a commit recorded after this read is not in them, and one recorded
        # before it is in the log after (records follow their commit file), so another
        # process committing meanwhile never reads as a lost commit.
        recorded = self.head(dataset)
        probed = LogHead.probed(self.storage, log_dir) if recorded is not None else None
        if probed is None:
            records = self.log_records(dataset)
            listing = LogListing.of(self.storage, log_dir)
            newest = self._check(dataset, table_dir, records, listing, None, after)
            return listing.head(newest)
        self._refuse_lost(dataset, table_dir, recorded, probed.newest)
        records = self.log_records(dataset, since=max(probed.base, 0))
        for version in range(max(probed.base, after) + 1, probed.newest + 1):
            self._check_log_file(dataset, table_dir, log_dir, commit_name(version), records)
        if probed.base >= 0 and after < probed.base:
            for name in probed.checkpoint:
                self._check_log_file(dataset, table_dir, log_dir, name, records)
        return probed

    def check_log(
        self, dataset: str, table_dir: str | Path, *, upto: int | None = None, after: int = -1
    ) -> int:
        """Check the commit files delta-rs would replay to reach version `upto` (None: the
        newest), skipping those up to `after` (already checked). Returns the version reached.

        Raises LakeDamaged for a recorded commit the log lacks (a lost newest commit), a
        missing commit between the checkpoint and the newest one (a gap), or a commit or
        checkpoint file whose size or SHA-256 differs from its record (an edit or garbage).
        """
        if upto is None:
            return self.check_head(dataset, table_dir, after=after).newest
        records = self.log_records(dataset)
        listing = LogListing.of(self.storage, self.storage.join(str(table_dir), "_delta_log"))
        return self._check(dataset, table_dir, records, listing, upto, after)

    def _refuse_lost(self, dataset: str, table_dir: str | Path, recorded: int, newest: int) -> None:
        """LakeDamaged when the newest recorded commit is past the newest in the log."""
        if recorded > newest:
            lost = f"{newest + 1}" if recorded == newest + 1 else f"{newest + 1}..{recorded}"
            raise self.log_damage(
                dataset,
                table_dir,
                f"version {lost} was committed but its commit file is missing from the log, "
                f"which would read as version {newest}",
            )

    def _check(
        self,
        dataset: str,
        table_dir: str | Path,
        records: Mapping[str, tuple[int, int, str]],
        listing: LogListing,
        upto: int | None,
        after: int,
    ) -> int:
        """`check_log` by a listing of the whole log folder, taken after reading `records`:
        a commit recorded after that read is not in them, and one recorded before it is in the
        listing (records follow their commit file), so another process committing meanwhile
        never reads as a lost commit."""
        log_dir = self.storage.join(str(table_dir), "_delta_log")
        newest = listing.newest() if upto is None else upto
        if upto is None:
            head = max((v for n, (v, _, _) in records.items() if n.endswith(".json")), default=-1)
            self._refuse_lost(dataset, table_dir, head, newest)
        base = listing.base(newest)
        present = [v for v in listing.versions if v <= newest]
        start = max(base, after) + 1
        if upto is not None and base < 0 and present:
            # A past version whose early commits were cleaned up after a checkpoint: delta-rs
            # says that version is gone; only the commits still there are ours to check.
            start = max(start, present[0])
        for version in range(start, newest + 1):
            name = commit_name(version)
            if name not in listing.names:
                raise self.log_damage(
                    dataset,
                    table_dir,
                    f"the commit file of version {version} is missing between the checkpoint "
                    f"(version {base}) and version {newest}",
                )
            self._check_log_file(dataset, table_dir, log_dir, name, records)
        if base >= 0 and after < base:
            for name in listing.checkpoints[base]:
                self._check_log_file(dataset, table_dir, log_dir, name, records)
        return newest

    def _check_log_file(
        self,
        dataset: str,
        table_dir: str | Path,
        log_dir: str,
        name: str,
        records: Mapping[str, tuple[int, int, str]],
    ) -> None:
        record = records.get(name)
        if record is None:
            return
        _, size, sha = record
        data = self.storage.read(self.storage.join(log_dir, name))
        if len(data) != size:
            raise self.log_damage(
                dataset, table_dir, f"log file {name} has {len(data)} bytes, {size} were committed"
            )
        if hashlib.sha256(data).hexdigest() != sha:
            raise self.log_damage(
                dataset,
                table_dir,
                f"log file {name} differs from the one committed (SHA-256 mismatch): it was "
                "edited or corrupted",
            )

    def file_damage(self, dataset: str, f: FileEntry, problem: str) -> LakeDamaged:
        """A damaged data file, named with the partition and dates it covers and its repair."""
        first = repair.day_of(f.mins.get("trade_date", f.partition.get("trade_date")))
        last = repair.day_of(f.maxs.get("trade_date", f.partition.get("trade_date")))
        return LakeDamaged(
            dataset,
            f"data file {f.rel} {problem}",
            partition=repair.describe(f.partition_raw, first, last),
            repair=repair.file_repair(dataset, f.partition_raw, first, last),
            path=f.rel,
        )

    def check_file(self, dataset: str, f: FileEntry, *, past: bool = False) -> None:
        """Refuse a data file that is missing, of another size than the log says, or (the first
        time this process sees it as it is now) whose bytes differ from the committed ones.

        A file missing from a past version (`past`) raises FileNotFoundError: vacuum removes
        the files of old versions, which makes that version unreadable, not the table damaged.
        """
        try:
            st = self.storage.stat(f.path)
        except FileNotFoundError:
            if past:
                raise
            raise self.file_damage(dataset, f, "is missing") from None
        if st.size != f.size:
            raise self.file_damage(
                dataset, f, f"has {st.size} bytes, the log says {f.size} (cut short or grown)"
            )
        key = (f.path, st.size, *st.identity)
        if key in self._verified:
            return
        record = self.file_record(dataset, f.rel)
        if record is not None:
            size, sha = record
            if size != f.size:
                raise self.file_damage(
                    dataset, f, f"is listed in the log with {f.size} bytes, {size} were committed"
                )
            if self.storage.sha256(f.path) != sha:
                raise self.file_damage(
                    dataset, f, "differs from the file committed (SHA-256 mismatch)"
                )
        else:
            problem = unreadable(self.storage, f.path)
            if problem:
                raise self.file_damage(dataset, f, problem)
        self._verified.add(key)

    def forget_verified(self) -> None:
        """Make every file be verified again on its next read (the next process's view)."""
        self._verified.clear()


class SharedLedger(Ledger):
    """The integrity records of a lake on object storage in the schema `market_spine_lake_ledger`
    of the PostgreSQL every node reaches (`database`), so each node knows the others' commits;
    the same statements as on SQLite, the checks unchanged. A database that refuses or cannot
    be reached is StateUnavailable: the records are out of reach, not damaged."""

    database: StateDatabase

    def __init__(self, local: str | Path, lake_root: str, database: StateDatabase) -> None:
        super().__init__(local, lake_root)
        self.database = database

    def where(self) -> str:
        """Where the records are, for messages (never a password)."""
        return self.database.where()

    def _shared(self, work: Callable[[StateConnection], _T]) -> _T:
        """`work` on this thread's connection, the tables in place. A kept connection the server
        dropped (a restart, a failover) is made again by the connection itself, before the
        statement or the transaction; a database that still refuses is StateUnavailable."""
        # Imported here: only a ledger on PostgreSQL needs the driver, and a process whose
        # lakes are local should not pay its import.
        import psycopg

        try:
            with self.database.session(_POSTGRES_SCHEMA) as con:
                return work(con)
        except psycopg.OperationalError as exc:
            raise StateUnavailable(self.database.refusal(exc)) from None

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._shared(lambda con: con.execute(sql, args).fetchall())

    def _write(self, statements: Iterable[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Run each statement over its rows in one transaction under the store's write lock
        (an advisory lock every node takes), or none of them when any fails."""
        batches = [(sql, rows) for sql, rows in statements if rows]
        if not batches:
            return

        def write(con: StateConnection) -> None:
            with con.transaction():
                for sql, rows in batches:
                    con.executemany(sql, rows)

        self._shared(write)

    def prepare(self, ddl: str) -> None:
        """Make a caller's tables in the store's schema (`ddl`, idempotent), once a process."""
        self._shared(lambda con: con.script(ddl))

    def refusal(self) -> str | None:
        """Why the database cannot be read, in a line with the fix, or None when it answers."""
        try:
            self._query("SELECT count(*) FROM log_files", ())
        except StateUnavailable as exc:
            return str(exc)
        return None

    def close(self) -> None:
        """Close this thread's connection (tests and tools that delete the lake call it)."""
        self.database.close_thread()


@lru_cache(maxsize=16)
def ledger_at(root: str) -> Ledger:
    """One Ledger per lake root in a process, so its verified files are shared; it lives in
    the root's local folder (the root itself, or the one registered for an S3 lake), or in the
    PostgreSQL registered for an S3 lake."""
    location = location_of(root)
    if location.ledger is not None:
        return SharedLedger(location.local, location.root, location.ledger)
    return Ledger(location.local, location.root)


def ledger_of(table_uri: str) -> tuple[Ledger, str, str]:
    """The ledger, dataset name and location of the table at `table_uri`
    (`<lake>/<layer>/<name>`)."""
    root, dataset, location = _table_place(table_uri)
    return ledger_at(root), dataset, location


@lru_cache(maxsize=1024)
def _table_place(table_uri: str) -> tuple[str, str, str]:
    """(lake root, dataset, normalized location) of a table: every read and commit asks, and
    normalizing a local root resolves it on the filesystem (~0.1 ms), so it is kept, as
    `ledger_at` keeps each root's ledger."""
    root, dataset = split_table(table_uri)
    location = location_of(root)
    return root, dataset, storage_at(location.root).join(location.root, dataset)
