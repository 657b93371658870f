"""A run executed in a process of its own: it succeeds there as it would here, and a process that
dies before the run ends leaves the run failed with the reason, never started forever."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.home import instance as home_instance
from market_spine.runs import run_process
from market_spine.runs.launch import create_run
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)


def _raw_bars_run(tmp_path: Path) -> tuple[dg.DagsterInstance, dg.DagsterRun]:
    settings = settings_for(tmp_path / "home")
    instance = home_instance(settings)
    key = str(partition_key(DAY, "CL"))
    run = create_run(settings, [keys.RAW_BARS], instance=instance, partition_range=(key, key))
    return instance, run


def test_a_run_executed_in_its_own_process_materializes_its_partition(tmp_path: Path) -> None:
    instance, run = _raw_bars_run(tmp_path)
    launched = run_process.execute_in_own_process(instance, run)
    assert launched.success, launched.failure
    records = instance.fetch_materializations(keys.RAW_BARS, limit=10).records
    assert [r.partition_key for r in records] == [str(partition_key(DAY, "CL"))]
    assert records[0].run_id == run.run_id


def test_a_process_that_dies_leaves_its_run_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance, run = _raw_bars_run(tmp_path)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    launched = run_process.execute_in_own_process(instance, run)
    assert not launched.success
    ended = instance.get_run_by_id(run.run_id)
    assert ended is not None and ended.status == dg.DagsterRunStatus.FAILURE
    assert "exited with code 1" in (launched.failure or "")


def test_an_unknown_run_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    instance, _ = _raw_bars_run(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)
    assert run_process.main(["no-such-run"]) == 2
