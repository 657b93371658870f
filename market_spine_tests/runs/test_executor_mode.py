"""Runs execute their steps in the run's process unless their config asks otherwise: the hourly
capture's runs, the sensors' and the UI's runs carry no executor config, and a process per step
would load the whole code location once per step."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.system_config.objects import ResolvedRunConfig

from market_spine.definitions import build_definitions
from market_spine_tests.kit.homes import settings_for


def _mode(job: dg.JobDefinition, run_config: dict[str, object]) -> str:
    [mode] = ResolvedRunConfig.build(job, run_config).execution.execution_engine_config
    return mode


def test_every_scheduled_and_automated_run_executes_in_process(tmp_path: Path) -> None:
    repo = build_definitions(settings_for(tmp_path / "home")).get_repository_def()
    scheduled = {s.job_name for s in repo.schedule_defs}
    assert "futures_bars" in scheduled
    jobs = {job.name: job for job in repo.get_all_jobs()}
    # The automation sensor's runs are runs of the implicit asset job.
    assert scheduled | {"__ASSET_JOB"} <= set(jobs)
    for name, job in jobs.items():
        assert job.executor_def.name == "metered", name
        assert _mode(job, {}) == "in_process", name


def test_a_run_may_still_ask_for_a_process_per_step(tmp_path: Path) -> None:
    repo = build_definitions(settings_for(tmp_path / "home")).get_repository_def()
    job = repo.get_job("futures_bars")
    assert _mode(job, {"execution": {"config": {"multiprocess": {}}}}) == "multiprocess"
