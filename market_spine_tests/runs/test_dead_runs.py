"""A run whose process is killed mid-step is failed and gives back its pool slot, so the next
run completes: by the CLI's sweep before it launches (no daemon needed), and by the monitoring
daemon through the run launcher's health check."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.monitoring.run_monitoring import execute_run_monitoring_iteration

from market_spine.home import open_instance
from market_spine.runs.launch import materialize_options
from market_spine.runs.location import location_origin
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)
POOL = "thetadata"


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def killed_run(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dg.DagsterInstance, str]]:
    """`market-spine process` killed with SIGKILL while its options capture holds the pool slot."""
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    cmd = [sys.executable, "-m", "market_spine.cli", "process", "--date", str(DAY)]
    child = subprocess.Popen(
        [*cmd, "--domain", "options"], env=dict(os.environ), stderr=subprocess.DEVNULL
    )
    try:
        wait_for((home / "dagster" / "dagster.yaml").is_file, 120, "the home's instance")
        instance = open_instance(home / "dagster")
        storage = instance.event_log_storage
        holders = wait_for(
            lambda: storage.get_concurrency_info(POOL).active_run_ids, 120, "a claimed slot"
        )
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
    [run_id] = holders
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.STARTED
    yield instance, run_id
    instance.dispose()


def test_next_cli_run_completes_after_a_killed_one(
    home: Path, killed_run: tuple[dg.DagsterInstance, str]
) -> None:
    instance, dead = killed_run
    assert instance.event_log_storage.get_concurrency_info(POOL).active_run_ids == {dead}
    summary = materialize_options(settings_for(home), DAY, DAY, instance=instance)
    assert summary is not None and summary.success, summary
    dead_run = instance.get_run_by_id(dead)
    assert dead_run is not None and dead_run.status == dg.DagsterRunStatus.FAILURE
    assert not instance.event_log_storage.get_concurrency_info(POOL).active_run_ids


def test_monitoring_daemon_fails_a_run_whose_cli_process_died(
    killed_run: tuple[dg.DagsterInstance, str],
) -> None:
    instance, dead = killed_run
    assert instance.run_monitoring_enabled
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(location_origin())) as ws:
        list(execute_run_monitoring_iteration(ws, logging.getLogger("monitor")))
    dead_run = instance.get_run_by_id(dead)
    assert dead_run is not None and dead_run.status == dg.DagsterRunStatus.FAILURE
