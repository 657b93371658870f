"""Where the audit trail lives: `<home>/audit/audit.sqlite`, one row per entry, in WAL mode so
readers never block the writer, readable by the home's user only (0600 in a 0700 folder); or,
with `state_database` set, the schema `market_spine_audit` of a PostgreSQL every node reaches,
so every API replica and run of a deployment appends to one chain.

Rows are only ever inserted: triggers refuse UPDATE and DELETE (on PostgreSQL TRUNCATE too, and
they fire in every session, replication role or not), and the chain (see `entry`) catches anyone
who goes around them. Appends from several processes serialize on the store's write lock
(SQLite's, or PostgreSQL's advisory lock of the store), each batch reading the last hash inside
its own transaction. After each batch the head (last sequence number and hash) is also written,
in the same transaction, so removing entries from the end is detected too: to `audit.head` in
the home for SQLite; on PostgreSQL to the store's `head` table, since a node's home is its own
and the head must be the one every node appends after. Either way the head sits beside the
entries, so an attacker who can rewrite both is caught only by anchors of that head kept outside
the store (`anchor`, `audit_anchor`)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psycopg

from market_spine.audit.entry import GENESIS, Entry, canonical, chain_hash
from market_spine.errors import InvalidInput
from market_spine.state_db import StateConnection, StateDatabase
from market_spine.state_db.database import postgres_sql
from market_spine.state_db.location import home_database

STORE = "audit"
AUDIT_DIR = "audit"
DB_FILE = "audit.sqlite"
HEAD_FILE = "audit.head"
#: The triggers that refuse UPDATE and DELETE; `verify` checks they are still there.
GUARD_TRIGGERS = ("entries_no_update", "entries_no_delete")
COLUMNS = ("seq", "at", "actor", "action", "dataset", "params", "outcome", "prev", "hash")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    dataset TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_at ON entries (at);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""

#: PostgreSQL's guards: name, when they fire, per row or statement, and the `pg_trigger.tgtype`
#: that timing makes (bits: 1 row, 2 before, 8 delete, 16 update, 32 truncate), which `verify`
#: compares so a guard redefined to fire on something else counts as missing.
POSTGRES_GUARDS = (
    ("entries_no_update", "BEFORE UPDATE", "ROW", 19),
    ("entries_no_delete", "BEFORE DELETE", "ROW", 11),
    ("entries_no_truncate", "BEFORE TRUNCATE", "STATEMENT", 34),
)
#: The body of the function every PostgreSQL guard calls; `verify` compares it too.
GUARD_BODY = "\nBEGIN\n    RAISE EXCEPTION 'the audit trail is append-only';\nEND\n"

# `at` sorts by bytes as on SQLite (the `since` filter compares ISO instants as text), whatever
# the database's collation.
_POSTGRES_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS entries (
    seq BIGINT PRIMARY KEY,
    at TEXT COLLATE "C" NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    dataset TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_at ON entries (at);
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
CREATE OR REPLACE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql
AS $body${GUARD_BODY}$body$;
""" + "".join(
    f"""
DO $guard$ BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger WHERE tgrelid = 'entries'::regclass AND tgname = '{name}'
        AND tgtype = {kind} AND tgenabled = 'A' AND tgqual IS NULL AND tgattr = ''::int2vector
        AND tgfoid = 'entries_append_only'::regproc
    ) THEN
        DROP TRIGGER IF EXISTS {name} ON entries;
        CREATE TRIGGER {name} {when} ON entries FOR EACH {level}
            EXECUTE FUNCTION entries_append_only();
        ALTER TABLE entries ENABLE ALWAYS TRIGGER {name};
    END IF;
END $guard$;
"""
    for name, when, level, kind in POSTGRES_GUARDS
)

#: Names for the server-side cursors that stream rows on PostgreSQL, unique per process.
_cursor_names = (f"audit_rows_{n}" for n in itertools.count())


class NoAuditTrail(InvalidInput):
    """The home's trail does not exist: nothing has been recorded where it would be."""


def audit_dir(home: Path) -> Path:
    """The home's audit folder."""
    return Path(home) / AUDIT_DIR


def db_path(home: Path) -> Path:
    """The home's audit database (SQLite)."""
    return audit_dir(home) / DB_FILE


def head_path(home: Path) -> Path:
    """The file holding the last entry's sequence number and hash (SQLite)."""
    return audit_dir(home) / HEAD_FILE


def audit_database(home: Path) -> StateDatabase:
    """The database of `home`'s trail under this process's configuration."""
    try:
        return home_database(Path(home), STORE, db_path(home))
    except InvalidInput as refused:
        # Until `state copy` carries it over, a home's trail file stays its trail: commands are
        # recorded where the entries before them are.
        if db_path(home).is_file():
            return StateDatabase(STORE, db_path(home))
        # A command refused for a bad setting is still recorded, in the home's file, as long
        # as no `state_database` is named: which database was meant is then not in doubt.
        from market_spine.config.file import SettingSources

        try:
            sources = SettingSources.of(os.environ, Path(home))
        except InvalidInput:
            raise refused from None
        if sources.get("MARKET_SPINE_STATE_DATABASE", "").strip():
            raise
        return StateDatabase(STORE, db_path(home))


@dataclass(frozen=True)
class Head:
    """The last entry: its sequence number (0: none yet) and hash."""

    seq: int
    hash: str


def _checked_head(seq: Any, digest: Any, where: str) -> Head:
    """The head read from `where`; InvalidInput when it is not a sequence number and a hash."""
    text = f"{seq} {digest}"
    if not str(seq).isdigit() or not isinstance(digest, str) or len(digest) != 64:
        raise InvalidInput(f"{where} is not an audit head ('<seq> <sha256>'): {text[:80]!r}")
    return Head(int(seq), digest)


def read_head(home: Path) -> Head | None:
    """The head recorded beside the trail (`audit.head`, or the store's `head` table on
    PostgreSQL); None without one. A malformed head raises InvalidInput."""
    if not audit_database(home).shared:
        return head_file(home)
    try:
        store = AuditStore(home, create=False)
    except NoAuditTrail:
        return None
    try:
        return store.head()
    finally:
        store.close()


def head_file(home: Path) -> Head | None:
    """The head `audit.head` records; None without the file."""
    path = head_path(home)
    if not path.is_file():
        return None
    text = path.read_text(encoding="ascii").strip()
    seq, _, digest = text.partition(" ")
    return _checked_head(seq, digest, str(path))


def _private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if missing (before SQLite creates it 0644)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class AuditStore:
    """The home's audit database, opened (and created, private on SQLite) on first use; a
    reader (`create=False`) raises NoAuditTrail where nothing was ever recorded."""

    def __init__(self, home: Path, *, create: bool = True) -> None:
        self.home = Path(home)
        self.database = audit_database(self.home)
        self.con = self._open_postgres(create) if self.database.shared else self._open(create)

    def _open(self, create: bool) -> StateConnection:
        """The SQLite file, private to the home's user, in WAL mode."""
        folder = audit_dir(self.home)
        path = db_path(self.home)
        if not create and not path.is_file():
            raise NoAuditTrail(
                f"{self.home} has no audit trail ({path} is missing): nothing has been recorded "
                "in this home yet, or MARKET_SPINE_HOME points elsewhere"
            )
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        if create:
            _private_file(path)
        con = self.database.connect(timeout_s=60)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        if create:
            con.script(_SCHEMA)
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.exists():
                    os.chmod(side, 0o600)
        return con

    def _open_postgres(self, create: bool) -> StateConnection:
        """A connection of the store's own to its schema. A reader finding no `entries` table
        has no trail; an empty table is a trail (emptied or not yet written), which `verify`
        judges against its head and guards rather than calling it absent."""
        con = self.database.connect()
        try:
            if create:
                con.script(_POSTGRES_SCHEMA)
            elif not _has_table(con, "entries"):
                raise NoAuditTrail(
                    f"{self.home} has no audit trail (no entries table in "
                    f"{self.database.where()}): nothing has been recorded there yet, or "
                    "state_database points elsewhere"
                )
        except BaseException:
            con.close()
            raise
        return con

    @property
    def postgres(self) -> bool:
        """True when the trail is in PostgreSQL."""
        return self.con.postgres

    def close(self) -> None:
        """Close the store's connection."""
        self.con.close()

    def append(self, entries: Sequence[Entry]) -> Head:
        """Append `entries` in order, chained after the last one, in one transaction; the new
        head. Safe against other processes appending at the same time; a connection the
        server dropped since the last batch is made again as the transaction begins."""
        con = self.con
        with con.transaction():
            last = con.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = last if last else (0, GENESIS)
            rows = []
            for e in entries:
                seq += 1
                params = canonical(e.params)
                digest = chain_hash(
                    prev, seq, e.at, e.actor, e.action, e.dataset, params, e.outcome
                )
                rows.append(
                    (seq, e.at, e.actor, e.action, e.dataset, params, e.outcome, prev, digest)
                )
                prev = digest
            con.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._write_head(Head(seq, prev))
        return Head(seq, prev)

    def _write_head(self, head: Head) -> None:
        if self.con.postgres:
            self.con.execute(
                "INSERT INTO head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE "
                "SET seq = excluded.seq, hash = excluded.hash",
                (head.seq, head.hash),
            )
            return
        path = head_path(self.home)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(f"{head.seq} {head.hash}\n")
        os.replace(tmp, path)

    @property
    def head_name(self) -> str:
        """Where the head is kept, for messages: the head file, or the head table."""
        return "the head table" if self.con.postgres else "the head file"

    @property
    def head_place(self) -> str:
        """Where the head is kept, named in full for messages."""
        if self.con.postgres:
            return f"the head table of {self.database.where()}"
        return str(head_path(self.home))

    def head(self) -> Head | None:
        """The head recorded beside the entries; None without one."""
        if not self.con.postgres:
            return head_file(self.home)
        if not _has_table(self.con, "head"):
            return None
        row = self.con.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
        return None if row is None else _checked_head(row[0], row[1], self.head_place)

    def ends(self) -> tuple[Head | None, Head | None]:
        """The recorded head and the last entry, read together under the store's write lock
        (appends write both under it): on SQLite the head file is outside any read snapshot,
        so this pair is what a check beside appends compares."""
        with self.con.transaction():
            return self.head(), self.last()

    def last(self) -> Head | None:
        """The last entry's sequence number and hash, as the entries hold them; None when
        there are none."""
        row = self.con.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else Head(int(row[0]), str(row[1]))

    @property
    def guards(self) -> tuple[str, ...]:
        """The names of the triggers that keep the entries append-only here."""
        if self.con.postgres:
            return tuple(name for name, *_ in POSTGRES_GUARDS)
        return GUARD_TRIGGERS

    def missing_guards(self) -> list[str]:
        """The append-only triggers the database no longer has; on PostgreSQL also those
        disabled, no longer firing in every session, redefined to fire on something else (or
        only on some columns, or under a condition), or calling a function that no longer
        refuses."""
        if not self.con.postgres:
            present = {
                name
                for (name,) in self.con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'"
                )
            }
            return [name for name in GUARD_TRIGGERS if name not in present]
        found = {
            (name, kind)
            for name, kind in self.con.execute(
                "SELECT t.tgname, t.tgtype FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgrelid = to_regclass(?) AND t.tgenabled = 'A' AND t.tgqual IS NULL "
                "AND t.tgattr = ''::int2vector AND p.prosrc = ?",
                (f"{self.database.schema}.entries", GUARD_BODY),
            ).fetchall()
        }
        return [name for name, _, _, kind in POSTGRES_GUARDS if (name, kind) not in found]

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see the trail as of one instant: on PostgreSQL the head table and the
        guards too, so a check running beside appends from other nodes sees the head that ends
        the entries it reads."""
        if self.con.postgres:
            raw = cast(psycopg.Connection, self.con.raw)
            with raw.transaction():
                raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield
            return
        self.con.execute("BEGIN")
        try:
            yield
        finally:
            if self.con.in_transaction:
                self.con.execute("COMMIT")

    def rows(
        self,
        *,
        since: str | None = None,
        actor: str | None = None,
        dataset: str | None = None,
        action: str | None = None,
        after: int | None = None,
        limit: int | None = None,
        batch: int = 50_000,
    ) -> Iterator[list[tuple]]:
        """The stored rows (`COLUMNS`) in sequence order, in lists of up to `batch`, filtered:
        `since` an ISO 8601 UTC instant (entries at or after it), `actor`, `dataset`, `action`
        exact (an `action` ending in `.` matches every action it starts); `after` a sequence
        number (entries after it: the next page)."""
        where: list[str] = []
        args: list[object] = []
        if after is not None:
            where.append("seq > ?")
            args.append(after)
        if since:
            where.append("at >= ?")
            args.append(since)
        if actor:
            where.append("actor = ?")
            args.append(actor)
        if dataset:
            where.append("dataset = ?")
            args.append(dataset)
        if action:
            if action.endswith("."):
                where.append("substr(action, 1, ?) = ?")
                args += [len(action), action]
            else:
                where.append("action = ?")
                args.append(action)
        sql = f"SELECT {', '.join(COLUMNS)} FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        if not self.con.postgres:
            cursor = self.con.execute(sql, args)
            while chunk := cursor.fetchmany(batch):
                yield chunk
            return
        # A server-side cursor streams a trail of any length in `batch`es, as SQLite's does;
        # it lives only inside a transaction.
        raw = cast(psycopg.Connection, self.con.raw)
        with raw.transaction(), raw.cursor(name=next(_cursor_names)) as cursor:
            cursor.execute(postgres_sql(sql), args)
            while chunk := cursor.fetchmany(batch):
                yield cast(list[tuple], chunk)


def _has_table(con: StateConnection, table: str) -> bool:
    """Whether the store's PostgreSQL schema holds `table`."""
    qualified = f"{con.database.schema}.{table}"
    return con.execute("SELECT to_regclass(?)", (qualified,)).fetchone()[0] is not None
