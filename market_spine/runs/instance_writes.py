"""How a process that creates or executes runs writes to the Dagster instance.

A range run writes a dozen events per asset partition (planned, materialized, each check's
evaluation), each several statements. Three things Dagster leaves to the deployment keep that
from dwarfing the work:
- dagster-postgres opens a new connection (TCP, then SCRAM authentication) for every statement
  unless it is in the webserver (`optimize_for_webserver`); `hold_connections` gives the
  instance's PostgreSQL storages a small pool instead, kept for the life of the process;
- every check evaluation asks the server whether the checks table exists
  (`supports_asset_checks`); `hold_connections` remembers the tables found, which a running
  process's schema migration cannot remove;
- a step's materializations of a partition range are written one by one unless
  DAGSTER_EVENT_BATCH_SIZE is set; `batch_event_writes` sets it (unless the deployment did), so
  they go in one insert per batch (still one event per partition).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import dagster as dg
from sqlalchemy.pool import NullPool

#: Connections each storage keeps open. A statement can open a second connection while the
#: first is checked out (an event insert, then its asset index in another), so one is too few.
POOL_SIZE = 4
#: Extra connections a burst may open (closed when returned), beyond POOL_SIZE.
MAX_OVERFLOW = 8
#: Seconds after which a held connection is replaced, so a server-side idle timeout or a
#: restarted server costs one reconnect, not a failed statement.
RECYCLE_S = 3600


#: Events Dagster writes in one statement (materializations of one step's partitions).
EVENT_BATCH_SIZE = 500


def prepare_event_writes(instance: dg.DagsterInstance) -> None:
    """Before creating or executing runs in this process: held connections, batched writes."""
    hold_connections(instance)
    batch_event_writes()


def batch_event_writes() -> None:
    """Let Dagster write a step's materializations in batches of EVENT_BATCH_SIZE, unless the
    deployment set DAGSTER_EVENT_BATCH_SIZE itself (Dagster reads it at every event)."""
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))


def hold_connections(instance: dg.DagsterInstance) -> int:
    """Replace each PostgreSQL storage's connect-per-statement engine of `instance` (run, event
    log, schedule) with a pooled one; how many were replaced (0 on SQLite, or when already
    pooled). The same statements run on the same server: only connections are reused."""
    from dagster_postgres import PostgresEventLogStorage

    replaced = 0
    for storage in _storages(instance):
        engine = getattr(storage, "_engine", None)
        url = getattr(storage, "postgres_url", None)
        if engine is None or url is None or not isinstance(engine.pool, NullPool):
            continue
        storage._engine = _pooled_engine(url, getattr(storage, "_token_provider", None), engine)
        if isinstance(storage, PostgresEventLogStorage):
            storage.has_table = _remembering(storage.has_table)
        replaced += 1
    return replaced


def _remembering(has_table: Callable[[str], bool]) -> Callable[[str], bool]:
    """`has_table` asking the server only until the table is found."""
    found: set[str] = set()

    def remembered(name: str) -> bool:
        if name in found:
            return True
        exists = has_table(name)
        if exists:
            found.add(name)
        return exists

    return remembered


def _storages(instance: dg.DagsterInstance) -> list[Any]:
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    kinds = (PostgresRunStorage, PostgresEventLogStorage, PostgresScheduleStorage)
    storages = [instance.run_storage, instance.event_log_storage, instance.schedule_storage]
    return [s for s in storages if isinstance(s, kinds)]


def _pooled_engine(url: str, token_provider: Any, current: Any) -> Any:
    """An engine like dagster-postgres's own (autocommit, its token hook, its `options`) that
    keeps POOL_SIZE connections."""
    from dagster_postgres.utils import create_pg_engine

    kwargs: dict[str, Any] = {
        "isolation_level": "AUTOCOMMIT",
        "pool_size": POOL_SIZE,
        "max_overflow": MAX_OVERFLOW,
        "pool_recycle": RECYCLE_S,
    }
    options = current.url.query.get("options")
    if options:
        kwargs["connect_args"] = {"options": options}
    return create_pg_engine(url, token_provider, **kwargs)
