"""Schedule states, ticks and daemon heartbeats written straight into a Dagster instance, as the
daemon would leave them, for tests of what the platform concludes from them (status, alerts,
retries)."""

from __future__ import annotations

import time
from datetime import datetime

import dagster as dg
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteInstigatorOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    ScheduleInstigatorData,
    TickData,
    TickStatus,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.types import DaemonHeartbeat
from dagster._utils.error import SerializableErrorInfo


def schedule_origin(name: str) -> RemoteInstigatorOrigin:
    """An origin for a schedule `name` in a repository of this file (no code needed)."""
    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__))
    return RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, "repo"), name)


def running_schedule(
    instance: dg.DagsterInstance,
    origin: RemoteInstigatorOrigin,
    cron: str,
    started: datetime | None,
    status: InstigatorStatus = InstigatorStatus.RUNNING,
) -> InstigatorState:
    """A schedule's state as the scheduler stores it once started at `started` (None: a state
    whose start time was never recorded)."""
    data = ScheduleInstigatorData(cron, started.timestamp() if started else None)
    return instance.add_instigator_state(
        InstigatorState(origin, InstigatorType.SCHEDULE, status, data)
    )


def add_tick(
    instance: dg.DagsterInstance,
    state: InstigatorState,
    at: datetime,
    status: TickStatus = TickStatus.SUCCESS,
    error: str = "Could not reach the user code server: the code location is down",
) -> None:
    """A tick of the schedule at `at`; a failed one carries `error`."""
    failure = SerializableErrorInfo(error, [], "Unreachable")
    instance.create_tick(
        TickData(
            instigator_origin_id=state.instigator_origin_id,
            instigator_name=state.instigator_name,
            instigator_type=InstigatorType.SCHEDULE,
            status=status,
            timestamp=at.timestamp(),
            selector_id=state.selector_id,
            run_ids=[],
            run_keys=[],
            origin_run_ids=[],
            error=failure if status == TickStatus.FAILURE else None,
        )
    )


def beat(instance: dg.DagsterInstance) -> None:
    """A heartbeat from every daemon the instance needs, as `dagster-daemon` writes them."""
    for kind in instance.get_required_daemon_types():
        instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), kind, "test", errors=[]))
