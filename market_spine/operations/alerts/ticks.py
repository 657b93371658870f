"""Missed and failed schedule ticks: each running schedule owes a tick at its latest cron time
(after a grace period); the instance's tick history says whether it came and how it ended."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorState, InstigatorStatus

from market_spine.operations.alerts.conditions import Observation
from market_spine.operations.alerts.observe import OwnersOf
from market_spine.operations.alerts.rules import Kind, Severity
from market_spine.operations.schedule_ticks import judge

# -- schedule ticks --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleInfo:
    """What tick judging needs of a schedule: its cron, time zone, default status and the
    datasets its job materializes or checks."""

    name: str
    cron: str
    timezone: str
    running_by_default: bool
    datasets: tuple[str, ...] = ()


def job_datasets_of(repository: dg.RepositoryDefinition) -> dict[str, tuple[str, ...]]:
    """Each job's datasets: the assets it materializes and the assets it checks."""
    found = {}
    for job in repository.get_all_jobs():
        layer = job.asset_layer
        keys = set(layer.executable_asset_keys) | {
            k.asset_key for k in layer.asset_graph.asset_check_keys
        }
        found[job.name] = tuple(sorted(k.to_user_string() for k in keys))
    return found


def schedules_of(repository: dg.RepositoryDefinition) -> list[ScheduleInfo]:
    """The repository's schedules with one cron string each (a list of crons is judged by its
    first)."""
    jobs = job_datasets_of(repository)
    found = []
    for schedule in repository.schedule_defs:
        cron = schedule.cron_schedule
        found.append(
            ScheduleInfo(
                name=schedule.name,
                cron=cron if isinstance(cron, str) else cron[0],
                timezone=schedule.execution_timezone or "UTC",
                running_by_default=schedule.default_status == dg.DefaultScheduleStatus.RUNNING,
                datasets=jobs.get(schedule.job_name, ()),
            )
        )
    return found


def tick_observations(
    instance: dg.DagsterInstance,
    schedules: Sequence[ScheduleInfo],
    now: datetime,
    grace: timedelta,
    owners_of: OwnersOf,
) -> list[Observation]:
    """Each running schedule's latest due tick (its cron time at least `grace` ago, after the
    schedule started): missed when the instance has no tick for it, failed when the tick
    failed; a schedule that ticked or stopped clears. A schedule no scheduler has started (no
    instigator state) owes no tick."""
    states = {s.instigator_name: s for s in instance.all_instigator_state()}
    found = []
    for schedule in schedules:
        state = states.get(schedule.name)
        if state is None:
            continue
        seen = _tick_verdict(instance, schedule, state, now, grace)
        if seen is not None:
            datasets = schedule.datasets
            found.append(replace(seen, datasets=datasets, owners=owners_of(datasets)))
    return found


def _tick_verdict(
    instance: dg.DagsterInstance,
    schedule: ScheduleInfo,
    state: InstigatorState,
    now: datetime,
    grace: timedelta,
) -> Observation | None:
    def seen(failing: bool, summary: str, **details: Any) -> Observation:
        return Observation(
            Kind.MISSED_TICK,
            subject=schedule.name,
            partition="",
            failing=failing,
            severity=Severity.ERROR,
            summary=summary,
            at=now,
            details={"cron": schedule.cron, "timezone": schedule.timezone, **details},
        )

    running = state.status == InstigatorStatus.RUNNING or (
        state.status == InstigatorStatus.DECLARED_IN_CODE and schedule.running_by_default
    )
    if not running:
        return seen(False, f"schedule {schedule.name} is stopped")
    verdict = judge(instance, state, schedule.cron, schedule.timezone, now, grace)
    if verdict is None:
        return None
    due_text = verdict.due_text
    if verdict.problem == "missed":
        return seen(
            True,
            f"schedule {schedule.name} missed its tick due at {due_text}: is the daemon running?",
            due=due_text,
        )
    if verdict.problem == "failed":
        return seen(
            True,
            f"schedule {schedule.name} tick at {due_text} failed: {verdict.error}",
            due=due_text,
        )
    return seen(False, f"schedule {schedule.name} ticked at {due_text}", due=due_text)
