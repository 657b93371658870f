"""Test Dagster instances that do not wait on the disk: a test's SQLite instance lives in a
temporary folder no one reads after a crash, yet SQLite's default (`synchronous=FULL`) syncs
the disk at every commit, and a run commits a few statements for every event (a planned and an
evaluation event for each dbt test reported as an asset check). On a loaded CI disk those syncs
were most of a warehouse build's time. Their storages also keep one engine per database
instead of building one for every statement (`reused_engines`): the engine keeping the
platform's run processes give their instance (`market_spine.runs.sqlite_engines`), here for
every instance a test opens."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from market_spine.runs.sqlite_engines import Engines, event_log_connect, storage_connect


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


#: The engines every test instance's storages share (`reused_engines`).
_engines = Engines()
_stock: dict[type, Any] = {}


def _patched() -> dict[type, tuple[str, Any]]:
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
    from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import (
        SqliteScheduleStorage,
    )

    return {
        SqliteEventLogStorage: ("_connect", event_log_connect(_engines)),
        SqliteRunStorage: ("connect", storage_connect(_engines)),
        SqliteScheduleStorage: ("connect", storage_connect(_engines)),
    }


def reused_engines() -> None:
    """The SQLite run, event-log and schedule storages Dagster opens in this process from now
    on keep an engine per database; what they store is the same."""
    for storage, (name, replacement) in _patched().items():
        if storage not in _stock:
            _stock[storage] = getattr(storage, name)
            setattr(storage, name, replacement)


def stock_engines() -> None:
    """Undo `reused_engines`."""
    for storage, (name, _) in _patched().items():
        if storage in _stock:
            setattr(storage, name, _stock.pop(storage))
    _engines.dispose()
