"""How a process that creates or executes runs writes to the Dagster instance.

A range run writes a dozen events per asset partition (planned, materialized, each check's
evaluation), each several statements. Five things Dagster leaves to the deployment keep that
from dwarfing the work:
- dagster-postgres opens a new connection (TCP, then SCRAM authentication) for every statement
  unless it is in the webserver (`optimize_for_webserver`); `hold_connections` gives the
  instance's PostgreSQL storages a small pool instead, kept for the life of the process;
- the storages ask the server whether a table or column exists before many writes and reads
  (`supports_asset_checks`, the asset and run index columns); `hold_connections` remembers what
  was found, which a running process's schema migration cannot remove;
- a step's materializations of a partition range are written one by one unless
  DAGSTER_EVENT_BATCH_SIZE is set; `batch_event_writes` sets it (unless the deployment did), so
  they go in one insert per batch (still one event per partition);
- dagster-postgres writes a run's planned events and a step's check evaluations one by one, each
  with a NOTIFY nothing listens to; `hold_connections` has the event log write them in batches
  (`pg_event_log`);
- Dagster's SQLite storages (the embedded default) build an engine for every statement;
  `keep_engines` has them keep one per database (`sqlite_engines`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import dagster as dg
from sqlalchemy.pool import NullPool

from market_spine.runs.pg_event_log import EventLogWrites
from market_spine.runs.sqlite_engines import keep_engines

#: Connections each storage keeps open. A statement can open a second connection while the
#: first is checked out (an event insert, then its asset index in another), so one is too few.
POOL_SIZE = 4
#: Extra connections a burst may open (closed when returned), beyond POOL_SIZE.
MAX_OVERFLOW = 8
#: Seconds after which a held connection is replaced, so a server-side idle timeout or a
#: restarted server costs one reconnect, not a failed statement.
RECYCLE_S = 3600


#: Events Dagster writes in one statement (materializations of one step's partitions), and
#: check evaluations of a step held for one batch.
EVENT_BATCH_SIZE = 500
#: Schema lookups answered once found, by storage: a table's, or a column's of the asset or
#: run table.
_REMEMBERED = {
    "PostgresEventLogStorage": ("has_table", "has_asset_key_col"),
    "PostgresRunStorage": ("has_run_stats_index_cols", "has_backfill_id_column"),
}


def prepare_event_writes(instance: dg.DagsterInstance) -> None:
    """Before creating or executing runs in this process: held connections (PostgreSQL), kept
    engines (SQLite), batched writes."""
    hold_connections(instance)
    keep_engines(instance)
    batch_event_writes()


def batch_event_writes() -> None:
    """Let Dagster write a step's materializations in batches of EVENT_BATCH_SIZE, unless the
    deployment set DAGSTER_EVENT_BATCH_SIZE itself (Dagster reads it at every event)."""
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))


def hold_connections(instance: dg.DagsterInstance) -> int:
    """Replace each PostgreSQL storage's connect-per-statement engine of `instance` (run, event
    log, schedule) with a pooled one, remember its schema lookups, and have the event log write
    in batches; how many storages were changed (0 on SQLite, or when already changed). The same
    rows land on the same server."""
    from dagster_postgres import PostgresEventLogStorage

    replaced = 0
    for storage in _storages(instance):
        engine = getattr(storage, "_engine", None)
        url = getattr(storage, "postgres_url", None)
        if engine is None or url is None or not isinstance(engine.pool, NullPool):
            continue
        storage._engine = _pooled_engine(url, getattr(storage, "_token_provider", None), engine)
        for name in _REMEMBERED.get(type(storage).__name__, ()):
            setattr(storage, name, _remembering(getattr(storage, name)))
        if isinstance(storage, PostgresEventLogStorage):
            EventLogWrites(storage, EVENT_BATCH_SIZE).install()
        replaced += 1
    return replaced


def _remembering(lookup: Callable[..., bool]) -> Callable[..., bool]:
    """`lookup` (does this table or column exist?) asking the server only until it is found."""
    found: set[tuple[Any, ...]] = set()

    def remembered(*args: Any) -> bool:
        if args in found:
            return True
        exists = lookup(*args)
        if exists:
            found.add(args)
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
