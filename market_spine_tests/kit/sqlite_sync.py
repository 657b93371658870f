"""Test Dagster instances that do not wait on the disk: a test's SQLite instance lives in a
temporary folder no one reads after a crash, yet SQLite's default (`synchronous=FULL`) syncs
the disk at every commit, and a run commits a few statements for every event (a planned and an
evaluation event for each dbt test reported as an asset check). On a loaded CI disk those syncs
were most of a warehouse build's time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def _unsynced(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


def unsynced_sqlite() -> None:
    """Every SQLite connection SQLAlchemy opens in this process from now on commits without
    syncing the disk (what it writes is the same; only an OS crash could lose it)."""
    if not event.contains(Engine, "connect", _unsynced):
        event.listen(Engine, "connect", _unsynced)


def synced_sqlite() -> None:
    """Undo `unsynced_sqlite`."""
    if event.contains(Engine, "connect", _unsynced):
        event.remove(Engine, "connect", _unsynced)
