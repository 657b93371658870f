"""Runs submitted through the instance's run coordinator (the UI, schedules, sensors, retries) are
tagged with who launched them, from where, and the provider settings they capture with."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun

from market_spine.config.profiles import instance_file
from market_spine.futures import keys
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.coordinator import SpineRunCoordinator, launched_from, submission_tags
from market_spine.runs.launch import create_run
from market_spine.runs.provenance import LAUNCHED_BY, LAUNCHED_FROM
from market_spine_tests.kit.homes import settings_for


@dg.op
def noop() -> None:
    return None


@dg.job
def tiny() -> None:
    noop()


@pytest.mark.parametrize(
    ("tags", "origin"),
    [
        ({}, "ui"),
        ({"dagster/parent_run_id": "abc"}, "ui"),
        ({"dagster/schedule_name": "futures_hourly_capture"}, "schedule"),
        ({"dagster/sensor_name": "warehouse_automation"}, "sensor"),
        ({"dagster/backfill": "xyz"}, "backfill"),
        ({"dagster/retry_number": "1", LAUNCHED_FROM: "cli"}, "retry"),
        ({LAUNCHED_FROM: "cli"}, "cli"),
    ],
)
def test_origin_of_a_submitted_run(tags: dict[str, str], origin: str) -> None:
    assert launched_from(tags) == origin


def test_instance_from_the_repo_config_tags_submitted_runs(tmp_path: Path, monkeypatch) -> None:
    shutil.copyfile(instance_file("dev"), tmp_path / "dagster.yaml")
    monkeypatch.setenv("MARKET_SPINE_PROVIDER", "ib")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, SpineRunCoordinator)
        # A run with the workspace's origin and a schedule's tag; its market config says
        # simulated while the server's environment says ib: the run's own settings win.
        run = create_run(
            settings_for(tmp_path / "home"),
            [keys.DAILY_BARS],
            instance=instance,
            partition_range=("2024-03-04|CL", "2024-03-05|CL"),
            tags={"dagster/schedule_name": "futures_hourly_capture"},
        )
        submitted = coordinator.submit_run(SubmitRunContext(run, workspace=None))  # type: ignore[arg-type]
        tags = instance.get_run_by_id(run.run_id).tags  # type: ignore[union-attr]
        assert submitted.status == dg.DagsterRunStatus.QUEUED
        assert tags[LAUNCHED_FROM] == "schedule"
        assert tags[LAUNCHED_BY]
        assert tags["market_spine/provider"] == "simulated"


def test_a_run_with_its_own_market_config_is_tagged_with_it() -> None:
    run = DagsterRun(
        job_name="tiny",
        run_config={"resources": {"market": {"config": {"provider": "ib", "seed": 11}}}},
        tags={LAUNCHED_FROM: "cli", "dagster/retry_number": "1"},
    )
    tags = submission_tags(run, MarketDataResource(provider="simulated", seed=7))
    assert tags["market_spine/provider"] == "ib"
    assert tags["market_spine/seed"] == "11"
    assert tags[LAUNCHED_FROM] == "retry"
