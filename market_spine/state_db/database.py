"""One store's database, SQLite or PostgreSQL, behind one connection type that takes the same
SQL: `?` placeholders, `INSERT ... ON CONFLICT`, `RETURNING`; each store keeps its schema per
dialect.

Written over the two DB-API drivers rather than SQLAlchemy: a keyed SELECT on SQLite costs
~10 µs through `sqlite3` and ~100 µs through SQLAlchemy Core, and the lake's integrity ledger is
asked one per file read. What this adds is the placeholder translation, a per-thread
connection, one schema per store on PostgreSQL and the store's write lock."""

from __future__ import annotations

import sqlite3
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import psycopg

from market_spine.errors import StateUnavailable

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
Dialect = Literal["sqlite", "postgresql"]

#: What a store's statement raises when its database refuses or fails it, on either dialect.
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.DatabaseError, psycopg.Error)

#: Seconds a PostgreSQL connection attempt may take before the store reports it unreachable.
CONNECT_TIMEOUT_S = 10


class Row(tuple):  # type: ignore[type-arg]
    """A result row read by position or by column name (as `sqlite3.Row`)."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return super().__getitem__(self._index[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        """The row's column names, in order."""
        return list(self._index)


def _named_rows(cursor: Any) -> Any:
    """psycopg's row factory for `Row`s."""
    index = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


@lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """`sql` written for SQLite's `?` placeholders, in psycopg's: `%s`, literal `%` doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


def _lock_key(store: str) -> int:
    """The advisory-lock key of a store's writes on PostgreSQL (a stable signed 32-bit hash)."""
    key = zlib.crc32(f"market_spine:{store}".encode())
    return key - (1 << 32) if key >= 1 << 31 else key


@dataclass(frozen=True)
class StateDatabase:
    """Where one store keeps its tables: `file`, a SQLite database in the home, unless
    `conninfo` names a PostgreSQL database (libpq's key=value or URI form), where the store's
    tables live in the schema `market_spine_<store>`."""

    store: str
    file: Path
    conninfo: str = ""
    #: Where the conninfo came from, for messages ("state_database=instance", ...).
    source: str = ""
    #: Seconds a PostgreSQL connection attempt may take (a whole number: libpq's unit), and a
    #: statement, waits for the store's lock included (0: no limit). A store that must never hold
    #: up its caller (the provider counters, flushed at exit) gives short ones.
    connect_timeout_s: int = CONNECT_TIMEOUT_S
    statement_timeout_s: float = 0
    _local: threading.local = field(default_factory=threading.local, compare=False, repr=False)
    _prepared: set[str] = field(default_factory=set, compare=False, repr=False)

    @property
    def dialect(self) -> Dialect:
        """`postgresql` when the store is on PostgreSQL, else `sqlite`."""
        return POSTGRESQL if self.conninfo else SQLITE

    @property
    def shared(self) -> bool:
        """True when every node of a deployment reaches the store (PostgreSQL)."""
        return bool(self.conninfo)

    @property
    def schema(self) -> str:
        """The store's PostgreSQL schema."""
        return f"market_spine_{self.store}"

    def where(self) -> str:
        """The store's place, for messages (never a password)."""
        if not self.shared:
            return str(self.file)
        info = psycopg.conninfo.conninfo_to_dict(self.conninfo)
        at = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
        return f"PostgreSQL {at}, schema {self.schema}"

    def refusal(self, exc: Exception, what: str | None = None) -> str:
        """Why the store's PostgreSQL refused a connection, in a line with the fix; `what`
        names the database otherwise than as this store's (no schema then)."""
        reason = (str(exc).strip().splitlines() or ["no answer"])[0]
        if "certificate" in reason.lower() or "ssl" in reason.lower():
            fix = "point PGSSLROOTCERT at the CA that signed the server's certificate"
        elif "password" in reason.lower() or "authentication" in reason.lower():
            fix = "give the right password (PGPASSWORD or the file PGPASSFILE names)"
        else:
            fix = "check the server runs and state_database names it"
        via = f" ({self.source})" if self.source else ""
        where = self.where() if what is None else self.where().split(", schema")[0]
        what = what or f"the {self.store} store's database"
        return f"{what}, {where}{via}, refused: {reason}; {fix}"

    def exists(self) -> bool:
        """False only for a SQLite store whose file was never made (a reader has nothing)."""
        return self.shared or self.file.exists()

    def connect(self, *, timeout_s: float = 30, named: bool = False) -> StateConnection:
        """A new connection (the caller closes it), with the store's schema in place; `named`
        rows read by column name too. SQLite waits up to `timeout_s` for a writer's lock."""
        if not self.shared:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            raw = sqlite3.connect(
                self.file, timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
            if named:
                raw.row_factory = sqlite3.Row
            return StateConnection(self, raw)
        try:
            pg = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=self.connect_timeout_s,
                options=self._options(),
                **({"row_factory": _named_rows} if named else {}),
            )
        except psycopg.OperationalError as exc:
            raise StateUnavailable(self.refusal(exc)) from None
        connection = StateConnection(self, pg)
        made = pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,))
        if made.fetchone() is None:
            with connection.transaction():
                # Two processes creating the schema at once would collide in the catalog.
                pg.execute("CREATE SCHEMA IF NOT EXISTS " + self.schema)
        return connection

    def _options(self) -> str:
        """The server settings of the store's sessions: its schema, and its statements' limit
        when it has one (else the server's own stands)."""
        options = f"-c search_path={self.schema}"
        if self.statement_timeout_s:
            options += f" -c statement_timeout={round(self.statement_timeout_s * 1000)}"
        return options

    def connection(self, *, named: bool = False) -> StateConnection:
        """This thread's connection, made on first use and remade when broken (a restarted
        server); kept open for the thread's life, as opening one costs a PostgreSQL login."""
        cached: StateConnection | None = getattr(self._local, "named" if named else "plain", None)
        if cached is not None and not cached.broken:
            return cached
        made = self.connect(named=named)
        setattr(self._local, "named" if named else "plain", made)
        return made

    @contextmanager
    def session(self, ddl: str = "", *, named: bool = False) -> Iterator[StateConnection]:
        """A connection for a few statements with the store's tables (`ddl`, idempotent) in
        place. On PostgreSQL the thread's kept connection, the tables made once a process; on
        SQLite a connection of its own, closed after (the file may be moved or deleted between
        uses: a kept connection would write to the unlinked file)."""
        if not self.shared:
            with self.connect(named=named) as con:
                if ddl:
                    con.script(ddl)
                yield con
            return
        con = self.connection(named=named)
        if ddl and ddl not in self._prepared:
            con.script(ddl)
            self._prepared.add(ddl)
        yield con

    def close_thread(self) -> None:
        """Close this thread's connections (tools that delete the store's file call it)."""
        for name in ("named", "plain"):
            cached = getattr(self._local, name, None)
            if cached is not None:
                cached.close()
                setattr(self._local, name, None)


class StateConnection:
    """A connection to one store's database, taking SQLite's SQL on either dialect."""

    def __init__(
        self, database: StateDatabase, raw: sqlite3.Connection | psycopg.Connection
    ) -> None:
        self.database = database
        self.raw = raw
        self.postgres = isinstance(raw, psycopg.Connection)
        self._named = self.postgres and raw.row_factory is _named_rows  # type: ignore[union-attr]
        self._depth = 0

    @property
    def dialect(self) -> Dialect:
        """The database's dialect."""
        return self.database.dialect

    @property
    def broken(self) -> bool:
        """True when the connection can no longer be used (closed, or its server went)."""
        if self.postgres:
            return bool(self.raw.closed or self.raw.broken)  # type: ignore[union-attr]
        return False

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement; the cursor answers fetchone/fetchall/rowcount."""
        if self.postgres:
            try:
                return self.raw.execute(postgres_sql(sql), args)  # type: ignore[arg-type]
            except psycopg.OperationalError:
                if not self._may_reconnect():
                    raise
            return self.raw.execute(postgres_sql(sql), args)  # type: ignore[arg-type]
        return self.raw.execute(sql, args)

    def _may_reconnect(self) -> bool:
        """Outside a transaction, a connection the server dropped (restarted, failed over,
        ended an idle session) is made again, so the statement can run once more: True then.
        Inside one, what the transaction did is gone with it: the caller must see the failure.
        A server that refuses the new connection raises StateUnavailable."""
        if self._depth or not self.raw.broken:  # type: ignore[union-attr]
            return False
        self.raw = self.database.connect(named=self._named).raw
        return True

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of `rows`."""
        if not rows:
            return
        if self.postgres:
            with self.raw.cursor() as cur:  # type: ignore[union-attr]
                cur.executemany(postgres_sql(sql), rows)
            return
        self.raw.executemany(sql, rows)

    def script(self, ddl: str) -> None:
        """Run several `;`-separated statements without parameters (a schema)."""
        if self.postgres:
            with self.transaction():
                self.raw.execute(ddl)  # type: ignore[arg-type]
            return
        self.raw.executescript(ddl)  # type: ignore[union-attr]

    @property
    def in_transaction(self) -> bool:
        """True inside an open transaction."""
        if self.postgres:
            status = self.raw.info.transaction_status  # type: ignore[union-attr]
            return status != psycopg.pq.TransactionStatus.IDLE
        return self.raw.in_transaction  # type: ignore[union-attr]

    @contextmanager
    def transaction(self) -> Iterator[StateConnection]:
        """One transaction that holds the store's write lock from its start (SQLite's
        `BEGIN IMMEDIATE`; on PostgreSQL an advisory lock of the store), so read-then-write
        sequences of concurrent writers take turns; rolled back on any exception."""
        if self.postgres:
            with ExitStack() as stack:
                try:
                    stack.enter_context(self.raw.transaction())  # type: ignore[union-attr]
                except psycopg.OperationalError:
                    # Its BEGIN found the connection dropped: nothing was done yet.
                    if not self._may_reconnect():
                        raise
                    stack.enter_context(self.raw.transaction())  # type: ignore[union-attr]
                self._depth += 1
                try:
                    self.raw.execute(  # type: ignore[union-attr]
                        "SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.database.store),)
                    )
                    yield self
                finally:
                    self._depth -= 1
            return
        self.raw.execute("BEGIN IMMEDIATE")
        try:
            yield self
            self.raw.execute("COMMIT")
        except BaseException:
            if self.raw.in_transaction:  # type: ignore[union-attr]
                self.raw.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()

    def __enter__(self) -> StateConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
