"""A PostgreSQL event log's writes in as few statements as its events allow.

dagster-postgres writes every event on its own, each an insert, a NOTIFY and its asset or check
row, and a batch of mixed events (a run's planned materializations and checks) one by one as
well. `EventLogWrites` takes over the storage's `store_event` and `store_event_batch`:
- any batch is one insert into event_logs, one insert of the asset tags, one asset_keys upsert
  per asset and event type, one insert of planned check rows, and one update of evaluated check
  rows (plus an insert of those no planned row matched);
- a step's check evaluations are held until the next other event is written (the step yields
  them one after another, after its materializations, and its success or failure follows), the
  limit is held, or the storage is disposed of, then written as one batch;
- no NOTIFY: Dagster reads run events by polling since 1.3 (dagster-postgres keeps the NOTIFY
  for older webservers only), its own batch writes send none, and every process of a deployment
  runs the same pinned Dagster.

The rows are those dagster-postgres writes, so the UI, `market-spine status` and the instance
API read them as ever.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import dagster._check as check
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import ASSET_EVENTS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    SqlEventLogStorageTable,
)
from sqlalchemy import text
from sqlalchemy.engine import Connection

_EVALUATION = DagsterEventType.ASSET_CHECK_EVALUATION
_PLANNED_CHECK = DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
#: What identifies a check's row in a run: the planned event's row, then its evaluation.
_CHECK_ROW_KEY = ("asset_key", "check_name", "run_id", "partition")


class StoredEvent(NamedTuple):
    """An event written to event_logs: its id there and its serialized form (serializing is
    most of a write's cost, so a check row reuses it)."""

    event: EventLogEntry
    id: int
    serialized: str


Stored = list[StoredEvent]


class EventLogWrites:
    """`store_event` / `store_event_batch` of a dagster-postgres event log storage writing
    batches (see the module). `install` puts them on the storage; `flush` writes what is held."""

    def __init__(self, storage: Any, hold_at_most: int) -> None:
        self._storage = storage
        self._hold_at_most = max(1, hold_at_most)
        self._held: list[EventLogEntry] = []
        self._lock = threading.RLock()

    def install(self) -> None:
        """Write through this object from now on; disposing of the storage writes what is held."""
        storage = self._storage
        dispose: Callable[[], None] = storage.dispose

        def flush_then_dispose() -> None:
            self.flush()
            dispose()

        storage.store_event = self.store_event
        storage.store_event_batch = self.store_event_batch
        storage.dispose = flush_then_dispose
        storage.event_log_writes = self

    def store_event(self, event: EventLogEntry) -> None:
        """Hold a step's check evaluation; write any other event after what is held."""
        check.inst_param(event, "event", EventLogEntry)
        with self._lock:
            if _held_back(event):
                self._held.append(event)
                if len(self._held) >= self._hold_at_most:
                    self.flush()
                return
            self.flush()
            write_events(self._storage, [event])

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """What is held, then `events` in one batch (failures to materialize are dropped, as
        dagster-postgres's batch write drops them)."""
        check.sequence_param(events, "events", of_type=EventLogEntry)
        with self._lock:
            self.flush()
            kept = [e for e in events if not e.get_dagster_event().is_asset_failed_to_materialize]
            write_events(self._storage, kept)

    def flush(self) -> None:
        """Write the held check evaluations now; one by one if their batch fails, so one bad
        event costs only itself."""
        with self._lock:
            held, self._held = self._held, []
            if not held:
                return
            try:
                write_events(self._storage, held)
            except Exception:
                for event in held:
                    write_events(self._storage, [event])

    @property
    def held(self) -> int:
        """Check evaluations waiting for the step's next other event."""
        return len(self._held)


def _held_back(event: EventLogEntry) -> bool:
    """A check evaluation a run's step yielded (a runless one is written at once)."""
    return bool(event.run_id and event.step_key) and event.dagster_event_type == _EVALUATION


def write_events(storage: Any, events: Sequence[EventLogEntry]) -> None:
    """Write `events` (in order) and the asset and check rows they update into a dagster-postgres
    event log `storage`, each kind of row in one statement. Events with such rows are written in
    one transaction with them, so a failed batch leaves nothing behind to write again."""
    if not events:
        return
    with storage._connect() as conn:
        if not any(_has_index_rows(e) for e in events):
            _insert_events(storage, conn, events)
            return
        # The engine autocommits each statement; a transaction needs an isolation level.
        conn = conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            stored = _insert_events(storage, conn, events)
            _write_asset_rows(storage, conn, stored)
            _write_check_rows(storage, conn, stored)


def _has_index_rows(event: EventLogEntry) -> bool:
    """An asset or check event: it updates rows beyond its own in event_logs."""
    kind = event.dagster_event_type
    return kind in ASSET_EVENTS or kind in (_EVALUATION, _PLANNED_CHECK)


def _insert_events(storage: Any, conn: Connection, events: Sequence[EventLogEntry]) -> Stored:
    """The events' rows of event_logs, in one insert."""
    rows = [storage._event_to_row(event) for event in events]
    # A list of parameters, not a VALUES clause of the rows: the statement is compiled once
    # per process, and SQLAlchemy still sends the rows as one multi-row insert (of up to a
    # thousand), returning their ids in the order of the rows.
    insert = SqlEventLogStorageTable.insert().returning(
        SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
    )
    ids = [int(row[0]) for row in conn.execute(insert, rows).fetchall()]
    if len(ids) != len(events):
        raise DagsterInvariantViolationError(f"{len(events)} events stored as {len(ids)}")
    return [StoredEvent(e, i, row["event"]) for e, i, row in zip(events, ids, rows, strict=True)]


def _write_asset_rows(storage: Any, conn: Connection, stored: Stored) -> None:
    """Asset tags of every asset event; each asset's row updated from the last event of each
    kind (each kind sets its own columns, so the last of each leaves what one by one would)."""
    assets = [
        (e, i)
        for e, i, _ in stored
        if e.is_dagster_event and e.dagster_event_type in ASSET_EVENTS and e.dagster_event.asset_key  # type: ignore[union-attr]
    ]
    if not assets:
        return
    storage._store_asset_event_tags(conn, [e for e, _ in assets], [i for _, i in assets])
    last: dict[tuple[Any, Any], tuple[EventLogEntry, int]] = {}
    for event, event_id in assets:
        key = (event.dagster_event.asset_key, event.dagster_event_type)  # type: ignore[union-attr]
        last.pop(key, None)
        last[key] = (event, event_id)
    for event, event_id in last.values():
        storage._store_asset_event(conn, event, event_id)


def _write_check_rows(storage: Any, conn: Connection, stored: Stored) -> None:
    """Planned checks' rows inserted; evaluations update their planned row, else insert one."""
    planned = [s for s in stored if s.event.dagster_event_type == _PLANNED_CHECK]
    evaluated = [s for s in stored if s.event.dagster_event_type == _EVALUATION]
    if not planned and not evaluated:
        return
    check.invariant(
        storage.supports_asset_checks,
        "Asset checks require a database schema migration. Run `dagster instance migrate`.",
    )
    table = AssetCheckExecutionsTable
    rows = [row for stored_event in planned for row in _planned_rows(storage, stored_event)]
    if rows:
        conn.execute(table.insert(), rows)
    in_runs = [_evaluation_row(storage, s) for s in evaluated if s.event.run_id]
    unmatched = _update_planned_rows(conn, in_runs)
    inserted = unmatched + [_evaluation_row(storage, s) for s in evaluated if not s.event.run_id]
    if inserted:
        conn.execute(table.insert(), inserted)


def _planned_rows(storage: Any, stored: StoredEvent) -> list[dict[str, Any]]:
    """The PLANNED rows of a check's planned event: one per planned partition (or one)."""
    event, event_id, serialized = stored
    planned = event.get_dagster_event().event_specific_data
    subset = planned.partitions_subset  # type: ignore[union-attr]
    partitions = subset.get_partition_keys() if subset else [None]
    return [
        {
            "asset_key": planned.asset_key.to_string(),  # type: ignore[union-attr]
            "check_name": planned.check_name,  # type: ignore[union-attr]
            "partition": partition,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialized,
            "evaluation_event_timestamp": storage._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        for partition in partitions
    ]


def _evaluation_row(storage: Any, stored: StoredEvent) -> dict[str, Any]:
    """The row a check evaluation leaves: its status, event and the materialization it saw."""
    event, event_id, serialized = stored
    evaluation = event.get_dagster_event().event_specific_data
    target = evaluation.target_materialization_data  # type: ignore[union-attr]
    status = (
        AssetCheckExecutionRecordStatus.SUCCEEDED
        if evaluation.passed  # type: ignore[union-attr]
        else AssetCheckExecutionRecordStatus.FAILED
    )
    return {
        "asset_key": evaluation.asset_key.to_string(),  # type: ignore[union-attr]
        "check_name": evaluation.check_name,  # type: ignore[union-attr]
        "partition": evaluation.partition,  # type: ignore[union-attr]
        "run_id": event.run_id,
        "execution_status": status.value,
        "evaluation_event": serialized,
        "evaluation_event_timestamp": storage._event_insert_timestamp(event),
        "evaluation_event_storage_id": event_id,
        "materialization_event_storage_id": target.storage_id if target else None,
    }


#: The columns of an evaluation row, with their PostgreSQL types.
_EVALUATION_COLUMNS = (
    ("asset_key", "text"),
    ("check_name", "text"),
    ("partition", "text"),
    ("run_id", "text"),
    ("execution_status", "text"),
    ("evaluation_event", "text"),
    ("evaluation_event_timestamp", "timestamp"),
    ("evaluation_event_storage_id", "bigint"),
    ("materialization_event_storage_id", "bigint"),
)
#: Every evaluation's planned row updated from a JSON array of the evaluation rows: one bind
#: parameter, so the statement's text never changes (compiling a VALUES list of hundreds of
#: rows cost more than running it).
_UPDATE_PLANNED = text(
    f"""
    UPDATE asset_check_executions AS t SET
        execution_status = e.execution_status,
        evaluation_event = e.evaluation_event,
        evaluation_event_timestamp = e.evaluation_event_timestamp,
        evaluation_event_storage_id = e.evaluation_event_storage_id,
        materialization_event_storage_id = e.materialization_event_storage_id
    FROM json_to_recordset(CAST(:rows AS json))
        AS e(n integer, {", ".join(f"{name} {kind}" for name, kind in _EVALUATION_COLUMNS)})
    WHERE t.asset_key = e.asset_key AND t.check_name = e.check_name AND t.run_id = e.run_id
        AND (t.partition = e.partition OR (t.partition IS NULL AND e.partition IS NULL))
    RETURNING e.n
    """
)


def _update_planned_rows(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Update each evaluation's planned row in one statement; the rows no planned row matched
    (a step launched without its planned events). Of two evaluations of one check row, the
    later wins, as it would one by one."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        latest[tuple(row[k] for k in _CHECK_ROW_KEY)] = row
    if not latest:
        return []
    ordered = list(latest.values())
    evaluated = [
        {"n": n, **{name: _json_value(row[name]) for name, _ in _EVALUATION_COLUMNS}}
        for n, row in enumerate(ordered)
    ]
    statement = _UPDATE_PLANNED.bindparams(rows=json.dumps(evaluated))
    matched = [int(r[0]) for r in conn.execute(statement).fetchall()]
    if len(matched) != len(set(matched)):
        twice = ordered[next(n for n in matched if matched.count(n) > 1)]
        raise DagsterInvariantViolationError(
            f"Updated several rows for asset check evaluation {twice['asset_key']}:"
            f"{twice['check_name']} as a result of duplicate AssetCheckPlanned events."
        )
    found = set(matched)
    return [row for n, row in enumerate(ordered) if n not in found]


def _json_value(value: Any) -> Any:
    """A row value as json_to_recordset reads it back: a timestamp in ISO form (naive UTC, as
    the storage writes it), anything else as is."""
    return value.isoformat() if isinstance(value, datetime) else value
