"""What an evaluation sees, and where reading the Dagster instance stopped: observations read
since the last evaluation (finished runs in `runs`, freshness-policy state changes here) and
judged now (schedule ticks in `ticks`, the home's free disk here).

Where reading stopped is saved only after the observations were routed (`Reading.commit`), so
an evaluation that fails half way loses nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange
from dagster._core.event_api import EventRecordsFilter
from dagster._core.events import DagsterEventType

from market_spine.operations.alerts.conditions import Observation
from market_spine.operations.alerts.rules import Kind, Severity, Thresholds
from market_spine.operations.alerts.store import AlertStore

#: How far before the saved update time runs are read again (runs updated in the same second
#: may be listed in any order); runs already read are skipped by id.
OVERLAP = timedelta(minutes=5)
_FRESHNESS_MARK = "freshness_storage_id"

#: Datasets → their owners.
OwnersOf = Callable[[Iterable[str]], tuple[str, ...]]


def owner_book() -> OwnersOf:
    """Datasets → their owners (sorted, distinct) from the catalog; unknown datasets have none."""
    from market_spine.catalog.registry import CATALOG

    owners = {spec.name: spec.owner for spec in CATALOG}
    return lambda datasets: tuple(sorted({owners[d] for d in datasets if d in owners}))


@dataclass
class Reading:
    """Observations read from the instance and where to resume once they are routed."""

    observations: list[Observation] = field(default_factory=list)
    marks: dict[str, str] = field(default_factory=dict)
    runs: list[tuple[str, datetime]] = field(default_factory=list)
    #: Failed runs read whose automatic retry is to come, and awaited runs now settled.
    awaiting: list[tuple[str, datetime]] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)

    def commit(self, store: AlertStore) -> None:
        """Save where this reading stopped."""
        for name, value in self.marks.items():
            store.set_mark(name, value)
        if self.awaiting:
            store.await_retries(self.awaiting)
        if self.settled:
            store.settle_retries(self.settled)
        if self.runs:
            keep_after = min(at for _, at in self.runs) - OVERLAP - timedelta(hours=1)
            store.add_seen_runs(self.runs, keep_after)


# -- freshness policies ----------------------------------------------------------------------


def read_freshness_states(
    instance: dg.DagsterInstance,
    store: AlertStore,
    thresholds: Thresholds,
    now: datetime,
    owners_of: OwnersOf,
    reading: Reading | None = None,
) -> Reading:
    """Observations of the freshness-policy state changes the instance recorded since the last
    reading: FAIL and WARN breach a dataset's policy, PASS clears it."""
    reading = reading or Reading()
    mark = store.mark(_FRESHNESS_MARK)
    kind = DagsterEventType.FRESHNESS_STATE_CHANGE
    query = (
        EventRecordsFilter(event_type=kind, after_cursor=int(mark))
        if mark
        else EventRecordsFilter(
            event_type=kind,
            after_timestamp=(now - timedelta(hours=thresholds.lookback_hours)).timestamp(),
        )
    )
    records = instance.event_log_storage.get_event_records(query, limit=1000, ascending=True)
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        seen = freshness_state_observation(event.asset_freshness_state_change_data, owners_of)
        if seen is not None:
            reading.observations.append(seen)
        reading.marks[_FRESHNESS_MARK] = str(record.storage_id)
    return reading


def freshness_state_observation(
    change: FreshnessStateChange, owners_of: OwnersOf
) -> Observation | None:
    """A freshness-policy state change as an observation; None for UNKNOWN / NOT_APPLICABLE."""
    state = change.new_state
    if state not in (FreshnessState.PASS, FreshnessState.WARN, FreshnessState.FAIL):
        return None
    dataset = change.key.to_user_string()
    return Observation(
        Kind.FRESHNESS,
        subject=dataset,
        partition="",
        failing=state != FreshnessState.PASS,
        severity=Severity.WARNING if state == FreshnessState.WARN else Severity.ERROR,
        summary=f"{dataset} freshness policy {state.value} (was {change.previous_state.value})",
        at=datetime.fromtimestamp(change.state_change_timestamp, UTC),
        datasets=(dataset,),
        owners=owners_of([dataset]),
        details={"state": state.value, "previous": change.previous_state.value},
    )


# -- disk ------------------------------------------------------------------------------------


def disk_observation(home: Path, thresholds: Thresholds, now: datetime) -> Observation:
    """The free space of the disk holding the home against the thresholds."""
    where = home
    while not where.exists() and where != where.parent:
        where = where.parent
    usage = shutil.disk_usage(where)
    free_gb = usage.free / 2**30
    free_percent = 100 * usage.free / usage.total if usage.total else 0.0
    low = free_gb < thresholds.disk_min_free_gb or free_percent < thresholds.disk_min_free_percent
    state = "low" if low else "ok"
    return Observation(
        Kind.LOW_DISK,
        subject=str(home),
        partition="",
        failing=low,
        severity=Severity.CRITICAL,
        summary=(
            f"disk of {home} {state}: {free_gb:.1f} GiB free ({free_percent:.1f}%), "
            f"minimum {thresholds.disk_min_free_gb:g} GiB and {thresholds.disk_min_free_percent:g}%"
        ),
        at=now,
        details={"free_gb": round(free_gb, 2), "free_percent": round(free_percent, 2)},
    )
