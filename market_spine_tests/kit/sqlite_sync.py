"""Test Dagster instances that do not wait on the disk: a test's SQLite instance lives in a
temporary folder no one reads after a crash, yet SQLite's default (`synchronous=FULL`) syncs
the disk at every commit, and a run commits a few statements for every event (a planned and an
evaluation event for each dbt test reported as an asset check). On a loaded CI disk those syncs
were most of a warehouse build's time. Their event logs also keep one engine per database
instead of building one for every statement (`reused_event_log_engines`)."""

from __future__ import annotations

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


#: How many SQLite event-log databases keep their engine (a run's shard is written for the
#: length of its run, the index shard throughout).
_ENGINES_KEPT = 64
_engines: OrderedDict[str, Engine] = OrderedDict()
_stock_connect: Any = None


@contextmanager
def _connect_reusing_engine(self: Any, shard: str) -> Iterator[Any]:
    """`SqliteEventLogStorage._connect`, with the shard's engine kept between statements: the
    stock storage builds an engine for every statement, and with it SQLAlchemy's compiled SQL,
    a quarter of what storing an event costs. Connections are still opened per statement."""
    from dagster._core.storage.event_log.sqlite import sqlite_event_log as module

    with self._db_lock:
        url = self.conn_string_for_shard(shard)
        engine = _engines.pop(url, None) or create_engine(
            url,
            poolclass=NullPool,
            connect_args={"timeout": module.SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        _engines[url] = engine
        while len(_engines) > _ENGINES_KEPT:
            _engines.popitem(last=False)[1].dispose()
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        with engine.connect() as conn, conn.begin():
            yield conn


def reused_event_log_engines() -> None:
    """The SQLite event logs Dagster opens in this process from now on keep an engine per
    database (`_connect_reusing_engine`); what they store is the same."""
    global _stock_connect
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    if _stock_connect is None:
        _stock_connect = SqliteEventLogStorage._connect
        SqliteEventLogStorage._connect = _connect_reusing_engine


def stock_event_log_engines() -> None:
    """Undo `reused_event_log_engines`."""
    global _stock_connect
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    if _stock_connect is not None:
        SqliteEventLogStorage._connect = _stock_connect
        _stock_connect = None
    while _engines:
        _engines.popitem()[1].dispose()
