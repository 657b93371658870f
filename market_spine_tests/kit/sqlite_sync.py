"""Test Dagster instances that do not wait on the disk: a test's SQLite instance lives in a
temporary folder no one reads after a crash, yet SQLite's default (`synchronous=FULL`) syncs
the disk at every commit, and a run commits a few statements for every event (a planned and an
evaluation event for each dbt test reported as an asset check). On a loaded CI disk those syncs
were most of a warehouse build's time. Their storages also keep one engine per database
instead of building one for every statement (`reused_engines`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool


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


#: How many SQLite databases keep their engine (a run's event-log shard is written for the
#: length of its run; the index shard, the runs and the schedules databases throughout).
_ENGINES_KEPT = 64
_engines: OrderedDict[str, Engine] = OrderedDict()
_engines_lock = threading.Lock()
_stock: dict[type, Any] = {}


def _engine(url: str, **options: Any) -> Engine:
    """The kept engine of the database at `url`, made with `options` the first time. An engine
    let go is not disposed: another thread may still hold a connection from it (its pool
    keeps none, so nothing is left open)."""
    with _engines_lock:
        engine = _engines.pop(url, None) or create_engine(url, poolclass=NullPool, **options)
        _engines[url] = engine
        while len(_engines) > _ENGINES_KEPT:
            _engines.popitem(last=False)
    return engine


@contextmanager
def _event_log_connect(self: Any, shard: str) -> Iterator[Any]:
    """`SqliteEventLogStorage._connect` on the shard's kept engine: the stock storage builds an
    engine for every statement, and with it SQLAlchemy's compiled SQL, a quarter of what
    storing an event costs. Connections are still opened per statement."""
    from dagster._core.storage.event_log.sqlite import sqlite_event_log as module

    with self._db_lock:
        engine = _engine(
            self.conn_string_for_shard(shard),
            connect_args={"timeout": module.SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        with engine.connect() as conn, conn.begin():
            yield conn


@contextmanager
def _storage_connect(self: Any) -> Iterator[Any]:
    """`connect` of the SQLite run and schedule storages, on the database's kept engine."""
    with _engine(self._conn_string).connect() as conn, conn.begin():
        yield conn


def _patched() -> dict[type, tuple[str, Any]]:
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
    from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import (
        SqliteScheduleStorage,
    )

    return {
        SqliteEventLogStorage: ("_connect", _event_log_connect),
        SqliteRunStorage: ("connect", _storage_connect),
        SqliteScheduleStorage: ("connect", _storage_connect),
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
    while _engines:
        _engines.popitem()[1].dispose()
