"""The machinery's counters shared between processes through the home's ledger, so the API's
`/metrics` shows the provider traffic of every process — the runs' above all — and not its own
alone. The ledger is a SQLite file in the home, or the schema `market_spine_counters` of the
`state_database` every node reaches (runs on other nodes than the API's count too).

Each process writes its own counters' current values under its own id, replacing what it wrote
before (`flush`): a process that writes twice is never counted twice. A run's step writes when
its market-data resource is torn down and again when its process exits; the API adds every
other process's last values to its own live ones (`others`). Rows of processes silent for a
day are folded into one row per series, so a year of runs stays a small table. Nothing here
may fail a run: a ledger that cannot be written or read is skipped, and a PostgreSQL that does
not answer is given up after a few seconds, so it never holds a process's exit.

Takes the ledger's database, or a path (a SQLite file); `ledger_database` finds a home's.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from market_spine.errors import StateUnavailable
from market_spine.observability.metrics import REGISTRY
from market_spine.state_db import (
    DATABASE_ERRORS,
    POSTGRESQL,
    SQLITE,
    StateConnection,
    StateDatabase,
)

#: This process's id in the ledger: host, pid and a nonce (a pid is reused).
PROCESS = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
#: The row holding what processes silent for FOLD_AFTER_S counted.
FOLDED = "folded"
FOLD_AFTER_S = 86_400.0
#: Seconds a writer waits for another's lock before giving up on this write.
BUSY_S = 5.0
#: Seconds a connection to the ledger's PostgreSQL may take before the ledger is skipped
#: (libpq's shortest), so an unreachable server never holds up a process's exit.
CONNECT_S = 2
#: The ledger's store name: its PostgreSQL schema is `market_spine_counters`.
STORE = "counters"
#: The ledger per dialect. PostgreSQL's REAL is 4 bytes: its values and times need 8.
_SCHEMAS = {
    SQLITE: (
        "CREATE TABLE IF NOT EXISTS counts (process TEXT NOT NULL, name TEXT NOT NULL, "
        "labels TEXT NOT NULL, value REAL NOT NULL, updated REAL NOT NULL, "
        "PRIMARY KEY (process, name, labels))"
    ),
    POSTGRESQL: (
        "CREATE TABLE IF NOT EXISTS counts (process TEXT NOT NULL, name TEXT NOT NULL, "
        "labels TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, "
        "updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (process, name, labels))"
    ),
}
#: What a ledger that cannot be reached, written or read raises: skipped, never the caller's.
_SKIPPED: tuple[type[Exception], ...] = (*DATABASE_ERRORS, sqlite3.Error, StateUnavailable, OSError)
#: A ledger given by its database or by the path of its SQLite file.
Ledger = StateDatabase | Path
_flushing_at_exit: set[StateDatabase] = set()


def ledger_path(home: Path) -> Path:
    """The home's ledger file: `<home>/operations/provider_counters.sqlite`."""
    return home / "operations" / "provider_counters.sqlite"


def ledger_database(home: Path) -> StateDatabase:
    """The home's ledger under this process's configuration: its file, unless `state_database`
    names a PostgreSQL. InvalidInput when that setting cannot be resolved."""
    from market_spine.state_db.location import home_database

    found = home_database(home, STORE, ledger_path(home))
    return _bounded(found.file, found.conninfo, found.source)


@lru_cache(maxsize=16)
def _bounded(file: Path, conninfo: str, source: str) -> StateDatabase:
    """The ledger's database at a place, connecting within CONNECT_S and waiting at most
    BUSY_S a statement (one per place in a process, so its threads' connections are kept)."""
    return StateDatabase(
        STORE, file, conninfo, source, connect_timeout_s=CONNECT_S, statement_timeout_s=BUSY_S
    )


def _database(ledger: Ledger) -> StateDatabase:
    return ledger if isinstance(ledger, StateDatabase) else _bounded(ledger, "", "")


@contextmanager
def _connected(database: StateDatabase) -> Iterator[StateConnection]:
    """A connection to the ledger with its table in place, waiting at most BUSY_S for a
    writer's lock (or a stalled server) before its statement fails."""
    if not database.shared:
        with database.connect(timeout_s=BUSY_S) as con:
            con.script(_SCHEMAS[SQLITE])
            yield con
        return
    with database.session(_SCHEMAS[POSTGRESQL]) as con:
        yield con


def _samples() -> Iterator[tuple[str, str, float]]:
    """(family name, labels as sorted JSON, value) of each counter series of this process."""
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == f"{family.name}_total":
                yield family.name, json.dumps(sample.labels, sort_keys=True), sample.value


def flush(ledger: Ledger, now: float | None = None) -> bool:
    """Write this process's counters to the ledger (replacing its earlier write), and fold
    the rows of processes silent for a day. False when it could not (nothing counted yet
    writes nothing and is True)."""
    at = time.time() if now is None else now
    rows = [(PROCESS, name, labels, value, at) for name, labels, value in _samples()]
    if not rows:
        return True
    try:
        with _connected(_database(ledger)) as db, db.transaction():
            db.executemany(
                "INSERT INTO counts VALUES (?, ?, ?, ?, ?) ON CONFLICT (process, name, labels) "
                "DO UPDATE SET value = excluded.value, updated = excluded.updated",
                rows,
            )
            _fold(db, at - FOLD_AFTER_S)
    except _SKIPPED:
        return False
    return True


def _fold(db: StateConnection, before: float) -> None:
    db.execute(
        "INSERT INTO counts SELECT ?, name, labels, SUM(value), MAX(updated) FROM counts "
        "WHERE process NOT IN (?, ?) AND updated < ? GROUP BY name, labels "
        "ON CONFLICT (process, name, labels) DO UPDATE SET value = counts.value + excluded.value",
        (FOLDED, FOLDED, PROCESS, before),
    )
    db.execute(
        "DELETE FROM counts WHERE process NOT IN (?, ?) AND updated < ?",
        (FOLDED, PROCESS, before),
    )


def flush_at_exit(ledger: Ledger) -> None:
    """Flush to the ledger when this process exits (once per ledger, however often asked)."""
    database = _database(ledger)
    if database not in _flushing_at_exit:
        _flushing_at_exit.add(database)
        atexit.register(flush, database)


def others(ledger: Ledger) -> dict[tuple[str, str], float]:
    """(family name, labels as sorted JSON) -> the sum every other process wrote to the ledger;
    {} when there is none (or it cannot be read)."""
    database = _database(ledger)
    if not database.exists():
        return {}
    try:
        with _connected(database) as db:
            rows = db.execute(
                "SELECT name, labels, SUM(value) FROM counts WHERE process != ? "
                "GROUP BY name, labels",
                (PROCESS,),
            ).fetchall()
    except _SKIPPED:
        return {}
    return {(name, labels): value for name, labels, value in rows}
