"""Read-only connections to a home's warehouse: the one way this code base reads the DuckDB file.

DuckDB refuses a reader while dbt writes, so a reader holds the shared side of the warehouse
lock for as long as its connection is open, and waits out a build instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from market_spine.company.masking import use_hash_key
from market_spine.security.pii_hash_key import pii_hash_key
from market_spine.warehouse.lock import DEFAULT_TIMEOUT_S, warehouse_lock
from market_spine.warehouse.paths import lock_path, warehouse_path

if TYPE_CHECKING:
    from market_spine.settings import Settings


def attach_home_lake(conn: duckdb.DuckDBPyConnection, home: Path | None = None) -> None:
    """Register the home's lake filesystem with a warehouse connection when the lake is on
    object storage: the lake views read `s3://` files, which DuckDB cannot fetch itself. The
    lake's settings are the environment's when it names this home (None: whatever home it
    names), as they hold the credentials."""
    from market_spine.errors import SpineError
    from market_spine.settings import Settings

    try:
        settings = Settings.from_env()
    except SpineError:
        return
    if not settings.lake_uri or (home is not None and Path(home).resolve() != settings.home):
        return
    from market_spine.lake.sql import attach

    attach(conn, settings.lake().storage)


def refresh_published(
    home: Path, timeout_s: float = DEFAULT_TIMEOUT_S, settings: Settings | None = None
) -> None:
    """Take the newest published warehouse first where nodes do not share the home
    (`publication`; `settings` are the home's, None: this process's for it); nothing
    otherwise."""
    from market_spine.warehouse.publication import shared_warehouse

    shared = shared_warehouse(home, settings)
    if shared is not None:
        shared.refresh(timeout_s)


@contextmanager
def read_only(
    home: Path, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to `<home>/warehouse/spine.duckdb` in UTC, under the shared lock.

    Raises `WarehouseBusy` when a build holds the lock past `timeout_s` and `duckdb.IOException`
    when the file does not exist (callers that can say why check `warehouse_path` first).
    """
    refresh_published(home, timeout_s)
    with warehouse_lock(lock_path(home), shared=True, timeout_s=timeout_s):
        conn = duckdb.connect(str(warehouse_path(home)), read_only=True)
        try:
            conn.execute("SET TimeZone = 'UTC'")
            attach_home_lake(conn, home)
            use_hash_key(conn, pii_hash_key(home))
            yield conn
        finally:
            conn.close()


def query_failed(conn: duckdb.DuckDBPyConnection, exc: duckdb.Error) -> str:
    """What to tell the reader of a warehouse query DuckDB could not run: its error in a
    sentence and the tables and views it can query (`schema.name`), instead of a bare
    `BinderException`."""
    found = conn.execute(
        "select distinct table_schema || '.' || table_name from information_schema.tables "
        "where table_schema not in ('information_schema', 'pg_catalog') order by 1"
    ).fetchall()
    tables = ", ".join(name for (name,) in found) or "none yet (build the warehouse)"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"warehouse query failed: {first}; the warehouse's tables are: {tables}"
