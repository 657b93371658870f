"""Where the audit trail lives: `<home>/audit/audit.sqlite`, one row per entry, in WAL mode so
readers never block the writer, readable by the home's user only (0600 in a 0700 folder).

Rows are only ever inserted: triggers refuse UPDATE and DELETE, and the chain (see `entry`)
catches anyone who goes around them. Appends from several processes (the API, the CLI, runs)
serialize on SQLite's write lock, each batch reading the last hash inside its own transaction.
After each batch the head (last sequence number and hash) is also written to `audit.head`, so
removing entries from the end is detected too; anchors of that head kept outside the home
(`anchor`) catch an attacker who rewrites both."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from market_spine.audit.entry import GENESIS, Entry, canonical, chain_hash
from market_spine.errors import InvalidInput

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


def audit_dir(home: Path) -> Path:
    """The home's audit folder."""
    return Path(home) / AUDIT_DIR


def db_path(home: Path) -> Path:
    """The home's audit database."""
    return audit_dir(home) / DB_FILE


def head_path(home: Path) -> Path:
    """The file holding the last entry's sequence number and hash."""
    return audit_dir(home) / HEAD_FILE


@dataclass(frozen=True)
class Head:
    """The last entry: its sequence number (0: none yet) and hash."""

    seq: int
    hash: str


def read_head(home: Path) -> Head | None:
    """The head `audit.head` records; None without one. A malformed file raises InvalidInput."""
    path = head_path(home)
    if not path.is_file():
        return None
    text = path.read_text(encoding="ascii").strip()
    seq, _, digest = text.partition(" ")
    if not seq.isdigit() or len(digest) != 64:
        raise InvalidInput(f"{path} is not an audit head ('<seq> <sha256>'): {text[:80]!r}")
    return Head(int(seq), digest)


def _private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if missing (before SQLite creates it 0644)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class AuditStore:
    """The home's audit database, opened (and created, private) on first use."""

    def __init__(self, home: Path, *, create: bool = True) -> None:
        self.home = Path(home)
        folder = audit_dir(self.home)
        if not create and not db_path(self.home).is_file():
            raise InvalidInput(
                f"{self.home} has no audit trail ({db_path(self.home)} is missing): nothing has "
                "been recorded in this home yet, or MARKET_SPINE_HOME points elsewhere"
            )
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        path = db_path(self.home)
        if create:
            _private_file(path)
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if create:
            self.db.executescript(_SCHEMA)
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.exists():
                    os.chmod(side, 0o600)

    def close(self) -> None:
        self.db.close()

    def append(self, entries: Sequence[Entry]) -> Head:
        """Append `entries` in order, chained after the last one, in one transaction; the new
        head. Safe against other processes appending at the same time."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            last = db.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
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
            db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._write_head(Head(seq, prev))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Head(seq, prev)

    def _write_head(self, head: Head) -> None:
        path = head_path(self.home)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(f"{head.seq} {head.hash}\n")
        os.replace(tmp, path)

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
        cursor = self.db.execute(sql, args)
        while chunk := cursor.fetchmany(batch):
            yield chunk
