"""New lake data is reacted to twice, by `process` and by the warehouse automation sensor: the
warehouse is still built once. A build `process` finds queued or under way is waited for and
reported, and only what it left stale would be built after it."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from market_spine.runs.launch import LaunchedRun, create_run, execute, materialize_warehouse
from market_spine.warehouse.assets import warehouse_dbt
from market_spine.warehouse.automation import warehouse_automation
from market_spine.warehouse.build import plan_warehouse
from market_spine_tests.kit.homes import WEEK, settings_for


@pytest.fixture
def home(materialized_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(materialized_home / "lake", home / "lake")
    return home


def _dbt_invocations(home: Path) -> int:
    log = home / "warehouse" / "dbt_target" / "dbt.log"
    return log.read_text().count("Running with dbt=") if log.is_file() else 0


def _builds(instance: dg.DagsterInstance) -> list[str]:
    """The runs that build a dbt model of the warehouse."""
    models = {spec.key for spec in warehouse_dbt.specs}
    return [run.run_id for run in instance.get_runs() if set(run.asset_selection or ()) & models]


def test_process_joins_the_sensors_build_instead_of_building_again(home: Path) -> None:
    settings = settings_for(home)
    with dg.instance_for_test() as inst:
        # The sensor reacted to the week's data first: its build is under way.
        plan = plan_warehouse(inst, settings)
        sensors = create_run(
            settings,
            plan.selection,
            instance=inst,
            partition_range=plan.partition_range,
            launched_from="sensor",
            tags={"dagster/sensor_name": warehouse_automation.name},
        )
        outcome: list[LaunchedRun] = []
        building = threading.Thread(target=lambda: outcome.append(execute(inst, sensors)))
        building.start()
        deadline = time.monotonic() + 60
        while (inst.get_run_by_id(sensors.run_id) or sensors).status != dg.DagsterRunStatus.STARTED:
            assert time.monotonic() < deadline, "the sensor's build never started"
            time.sleep(0.05)

        # `process` reaches its warehouse step over the same week.
        [summary] = materialize_warehouse(settings, WEEK[0], WEEK[-1], instance=inst)
        building.join(120)

        assert outcome and outcome[0].success, outcome
        assert summary.run_id == sensors.run_id and summary.success
        assert _builds(inst) == [sensors.run_id]
        assert _dbt_invocations(home) == 1
