"""SQLite instance storages that keep one engine per database.

Dagster's SQLite run, event-log and schedule storages (the embedded default every home starts
on) build a SQLAlchemy engine for every statement, and with it the engine's compiled-SQL cache:
about a quarter of what storing an event costs, and a run stores several events for every asset
partition and check. `keep_engines` gives the storages of one instance an engine per database
file, made once; each statement still opens and closes its own connection (no pool), and SQLite
is still asked for the same durability, so what is stored, and when it is on disk, is the same.
"""

from __future__ import annotations

import threading
import types
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

#: Marks a storage whose connections already come from kept engines.
_KEPT = "_market_spine_kept_engines"


#: Databases whose engine a storage keeps: a run's event-log shard is written for the length of
#: its run, the index shard and the run and schedule databases throughout, so a long-lived
#: process that executes many runs lets the oldest shards' engines go.
ENGINES_KEPT = 64


class Engines:
    """An engine per database URL, made on first use, the ENGINES_KEPT most recent kept."""

    def __init__(self) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, url: str, **options: Any) -> Engine:
        # An engine let go is not disposed: another thread may still be in a statement on it,
        # and with no pool it holds no connection of its own.
        with self._lock:
            engine = self._engines.pop(url, None) or create_engine(
                url, poolclass=NullPool, **options
            )
            self._engines[url] = engine
            while len(self._engines) > ENGINES_KEPT:
                self._engines.popitem(last=False)
            return engine

    def dispose(self) -> None:
        """Let every engine go, closing what it holds (nothing may be in a statement)."""
        with self._lock:
            while self._engines:
                self._engines.popitem()[1].dispose()


def keep_engines(instance: dg.DagsterInstance) -> int:
    """Have `instance`'s SQLite storages (run, event log, schedule) reuse one engine per
    database file; how many storages were changed (0 on PostgreSQL, or when already done)."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
    from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import (
        SqliteScheduleStorage,
    )

    changed = 0
    for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
        if getattr(storage, _KEPT, False):
            continue
        engines = Engines()
        if type(storage) is SqliteEventLogStorage:
            storage._connect = types.MethodType(event_log_connect(engines), storage)  # type: ignore[method-assign]
        elif type(storage) in (SqliteRunStorage, SqliteScheduleStorage):
            storage.connect = types.MethodType(storage_connect(engines), storage)  # type: ignore[method-assign]
        else:
            continue
        setattr(storage, _KEPT, True)
        changed += 1
    return changed


def event_log_connect(engines: Engines) -> Any:
    """The event log's `_connect(shard)` (a run's shard, or the index) on the shard's kept
    engine, initialising the shard's tables on first use as the stock method does."""
    from dagster._core.storage.event_log.sqlite import sqlite_event_log as module

    @contextmanager
    def connect(self: Any, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = engines.of(
                self.conn_string_for_shard(shard),
                connect_args={"timeout": module.SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    return connect


def storage_connect(engines: Engines) -> Any:
    """The run or schedule storage's `connect()` on its database's kept engine."""

    @contextmanager
    def connect(self: Any) -> Iterator[Connection]:
        with engines.of(self._conn_string).connect() as conn, conn.begin():
            yield conn

    return connect
