"""The machinery's counters shared between processes through one SQLite file in the home, so
the API's `/metrics` shows the provider traffic of every process — the runs' above all — and
not its own alone.

Each process writes its own counters' current values under its own id, replacing what it wrote
before (`flush`): a process that writes twice is never counted twice. A run's step writes when
its market-data resource is torn down and again when its process exits; the API adds every
other process's last values to its own live ones (`others`). Rows of processes silent for a
day are folded into one row per series, so a year of runs stays a small table. Nothing here
may fail a run: a file that cannot be written or read is skipped.

Takes a path, never the platform's settings: this module imports nothing of the platform.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from market_spine.observability.metrics import REGISTRY

#: This process's id in the ledger: host, pid and a nonce (a pid is reused).
PROCESS = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
#: The row holding what processes silent for FOLD_AFTER_S counted.
FOLDED = "folded"
FOLD_AFTER_S = 86_400.0
#: Seconds a writer waits for another's lock before giving up on this write.
BUSY_S = 5.0
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counts (process TEXT NOT NULL, name TEXT NOT NULL, "
    "labels TEXT NOT NULL, value REAL NOT NULL, updated REAL NOT NULL, "
    "PRIMARY KEY (process, name, labels))"
)
_flushing_at_exit: set[Path] = set()


def ledger_path(home: Path) -> Path:
    """The home's ledger: `<home>/operations/provider_counters.sqlite`."""
    return home / "operations" / "provider_counters.sqlite"


def _samples() -> Iterator[tuple[str, str, float]]:
    """(family name, labels as sorted JSON, value) of each counter series of this process."""
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == f"{family.name}_total":
                yield family.name, json.dumps(sample.labels, sort_keys=True), sample.value


@contextlib.contextmanager
def _connected(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, timeout=BUSY_S, isolation_level=None)
    try:
        connection.execute(_SCHEMA)
        yield connection
    finally:
        connection.close()


def flush(path: Path, now: float | None = None) -> bool:
    """Write this process's counters to the ledger at `path` (replacing its earlier write), and
    fold the rows of processes silent for a day. False when it could not (nothing counted yet
    writes nothing and is True)."""
    at = time.time() if now is None else now
    rows = [(PROCESS, name, labels, value, at) for name, labels, value in _samples()]
    if not rows:
        return True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _connected(path) as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO counts VALUES (?, ?, ?, ?, ?)", rows)
            _fold(db, at - FOLD_AFTER_S)
            db.execute("COMMIT")
    except (sqlite3.Error, OSError):
        return False
    return True


def _fold(db: sqlite3.Connection, before: float) -> None:
    db.execute(
        "INSERT INTO counts SELECT ?, name, labels, SUM(value), MAX(updated) FROM counts "
        "WHERE process NOT IN (?, ?) AND updated < ? GROUP BY name, labels "
        "ON CONFLICT (process, name, labels) DO UPDATE SET value = value + excluded.value",
        (FOLDED, FOLDED, PROCESS, before),
    )
    db.execute(
        "DELETE FROM counts WHERE process NOT IN (?, ?) AND updated < ?",
        (FOLDED, PROCESS, before),
    )


def flush_at_exit(path: Path) -> None:
    """Flush to `path` when this process exits (once per path, however often asked)."""
    if path not in _flushing_at_exit:
        _flushing_at_exit.add(path)
        atexit.register(flush, path)


def others(path: Path) -> dict[tuple[str, str], float]:
    """(family name, labels as sorted JSON) -> the sum every other process wrote to the ledger;
    {} when there is none (or it cannot be read)."""
    if not path.exists():
        return {}
    try:
        with _connected(path) as db:
            rows = db.execute(
                "SELECT name, labels, SUM(value) FROM counts WHERE process != ? "
                "GROUP BY name, labels",
                (PROCESS,),
            ).fetchall()
    except sqlite3.Error:
        return {}
    return {(name, labels): value for name, labels, value in rows}
