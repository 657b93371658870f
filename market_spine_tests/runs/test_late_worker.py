"""A worker that gets to its run after run monitoring failed it (start timeout: the worker read
the run while it was STARTING, then took long to load the code) executes no step, so the run
never executes beside the retry monitoring's failure launched; the run stays failed, and the
history never shows such a run with a negative duration."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.api import execute_run
from dagster._utils.hosted_user_process import recon_job_from_origin

from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.home import instance as home_instance
from market_spine.operations.run_history import RunRow
from market_spine.runs.launch import create_run
from market_spine.runs.location import definitions_for_this_environment
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import DAY


def test_a_worker_starting_after_its_run_failed_executes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path / "home")
    monkeypatch.setenv("MARKET_SPINE_HOME", str(settings.home))
    key = str(partition_key(DAY, "CL"))
    with home_instance(settings) as instance:
        run = create_run(settings, [keys.RAW_BARS], instance=instance, partition_range=(key, key))
        starting = DagsterEvent(
            event_type_value=DagsterEventType.PIPELINE_STARTING.value, job_name=run.job_name
        )
        instance.report_dagster_event(starting, run_id=run.run_id)
        # What the worker read when its process started.
        seen = instance.get_run_by_id(run.run_id)
        assert seen is not None and seen.status == dg.DagsterRunStatus.STARTING
        # Then run monitoring gave up on it.
        instance.report_run_failed(
            seen, message="This run has been marked as failed from run monitoring: START_TIMEOUT"
        )
        assert seen.job_code_origin is not None
        definitions_for_this_environment()
        execute_run(recon_job_from_origin(seen.job_code_origin), seen, instance)

        ended = instance.get_run_by_id(run.run_id)
        assert ended is not None and ended.status == dg.DagsterRunStatus.FAILURE
        steps = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.STEP_START
        ).records
        assert steps == [], "a step executed after the run had failed"
        failures = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.RUN_FAILURE
        ).records
        assert any(
            "had already ended before its worker started it" in (r.event_log_entry.message or "")
            or "had already ended before its worker started it"
            in str(r.event_log_entry.dagster_event.event_specific_data)
            for r in failures
        )
    assert not settings.lake().exists(keys.RAW_BARS.to_user_string())


def test_a_late_start_never_shows_a_negative_duration() -> None:
    now = datetime.now(UTC)
    # Failed by monitoring a minute ago, then its worker reported it started 10 s ago.
    late = RunRow(
        run_id="r",
        job="futures_bars",
        status="STARTED",
        created=now - timedelta(minutes=5),
        started=now - timedelta(seconds=10),
        ended=now - timedelta(minutes=1),
        span=None,
        datasets=(),
        launched_by=None,
        launched_from=None,
        parent_run_id=None,
        root_run_id=None,
        rows=100,
    )
    assert late.duration_s is not None and 9.0 <= late.duration_s < 60.0
    assert late.rows_per_s is not None and late.rows_per_s > 0
    failed = dataclasses.replace(late, status="FAILURE")
    assert failed.duration_s == 0.0
