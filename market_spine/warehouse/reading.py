"""Read-only connections to a home's warehouse: the one way this code base reads the DuckDB file.

DuckDB refuses a reader while dbt writes, so a reader holds the shared side of the warehouse
lock for as long as its connection is open, and waits out a build instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from market_spine.warehouse.lock import DEFAULT_TIMEOUT_S, warehouse_lock
from market_spine.warehouse.paths import lock_path, warehouse_path


@contextmanager
def read_only(
    home: Path, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to `<home>/warehouse/spine.duckdb` in UTC, under the shared lock.

    Raises `WarehouseBusy` when a build holds the lock past `timeout_s` and `duckdb.IOException`
    when the file does not exist (callers that can say why check `warehouse_path` first).
    """
    with warehouse_lock(lock_path(home), shared=True, timeout_s=timeout_s):
        conn = duckdb.connect(str(warehouse_path(home)), read_only=True)
        try:
            conn.execute("SET TimeZone = 'UTC'")
            yield conn
        finally:
            conn.close()
