"""Stopping the deployment cancels what it has in flight: queued runs end CANCELED instead of
waiting for the next start, and a run another live CLI process executes is left alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.storage.tags import WILL_RETRY_TAG
from dagster._core.utils import make_new_run_id

from market_spine.futures import keys
from market_spine.runs.launch import create_run
from market_spine.runs.workers import Worker, cancel_active_runs
from market_spine_tests.kit.homes import settings_for


@pytest.fixture
def queued_instance() -> Iterator[dg.DagsterInstance]:
    overrides = {
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "run_retries": {"enabled": True, "max_retries": 2},  # as dagster.yaml
    }
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


def _add(instance: dg.DagsterInstance, status: dg.DagsterRunStatus, **tags: str) -> str:
    run_id = make_new_run_id()
    instance.run_storage.add_run(
        dg.DagsterRun(job_name="__ASSET_JOB", run_id=run_id, status=status, tags=tags)
    )
    return run_id


def _queue(instance: dg.DagsterInstance, home: Path) -> str:
    """A futures load submitted the way the UI and schedules submit runs: QUEUED."""
    run = create_run(
        settings_for(home),
        [keys.DAILY_BARS],
        instance=instance,
        partition_range=("2024-03-04|CL", "2024-03-05|CL"),
    )
    submitted = instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))  # type: ignore[arg-type]
    assert submitted.status == dg.DagsterRunStatus.QUEUED
    return run.run_id


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def test_queued_runs_end_cancelled(queued_instance: dg.DagsterInstance, home: Path) -> None:
    queued = [_queue(queued_instance, home) for _ in range(2)]
    done = _add(queued_instance, dg.DagsterRunStatus.SUCCESS)
    assert sorted(cancel_active_runs(queued_instance, wait_s=1)) == sorted(queued)
    assert {_status(queued_instance, r) for r in queued} == {dg.DagsterRunStatus.CANCELED}
    assert _status(queued_instance, done) == dg.DagsterRunStatus.SUCCESS


def test_a_run_a_live_cli_process_executes_is_left_alone(
    queued_instance: dg.DagsterInstance,
) -> None:
    run_id = make_new_run_id()
    tags = Worker.this_process(run_id).tag()
    queued_instance.run_storage.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB", run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags=tags
        )
    )
    assert cancel_active_runs(queued_instance, wait_s=1) == []
    assert _status(queued_instance, run_id) == dg.DagsterRunStatus.STARTED


def test_a_running_run_that_does_not_stop_in_time_is_marked_cancelled(
    queued_instance: dg.DagsterInstance,
) -> None:
    # Launched by the deployment (no worker of its own), with no code server left to stop it.
    run_id = _add(queued_instance, dg.DagsterRunStatus.STARTED)
    assert cancel_active_runs(queued_instance, wait_s=1) == [run_id]
    assert _status(queued_instance, run_id) == dg.DagsterRunStatus.CANCELED


def test_a_stopped_run_is_never_retried_automatically(
    queued_instance: dg.DagsterInstance,
) -> None:
    """Its worker killed with the services, the run monitor fails it at the next start: the
    retry daemon must leave it to a re-execution, while a run that fails on its own is retried."""
    stopped = _add(queued_instance, dg.DagsterRunStatus.STARTED)
    assert cancel_active_runs(queued_instance, wait_s=1) == [stopped]
    failing = _add(queued_instance, dg.DagsterRunStatus.STARTED)
    for run_id in (stopped, failing):
        run = queued_instance.get_run_by_id(run_id)
        assert run is not None
        queued_instance.report_run_failed(run, "the run worker is gone")
    will_retry = {}
    for run_id in (stopped, failing):
        run = queued_instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        will_retry[run_id] = run.tags[WILL_RETRY_TAG]
    assert will_retry == {stopped: "false", failing: "true"}
    stopped_run = queued_instance.get_run_by_id(stopped)
    assert stopped_run is not None and stopped_run.tags["market_spine/stopped_by"] == "shutdown"
