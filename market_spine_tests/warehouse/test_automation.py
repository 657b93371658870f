"""The warehouse automation sensor's conditions on a real Dagster instance: an idle platform gets
no run, and a lake table's new materialization requests exactly the models downstream of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from market_spine.definitions import build_definitions
from market_spine.warehouse.automation import warehouse_automation
from market_spine_tests.kit.homes import settings_for

DAY = "2024-03-05"
DAILY_BARS = dg.AssetKey(["analytics", "futures_bars_daily"])


class Sensor:
    """Ticks the sensor's conditions and plays each requested run as if it succeeded."""

    def __init__(self, home: Path, instance: dg.DagsterInstance) -> None:
        self.defs = build_definitions(settings_for(home))
        self.graph = self.defs.get_repository_def().asset_graph
        self.instance = instance
        self.cursor: Any = None
        self.target = warehouse_automation.asset_selection.resolve(self.graph)

    def materialize(self, key: dg.AssetKey, partitions: list[str] | None = None) -> None:
        for partition in partitions or [None]:
            event = dg.AssetMaterialization(key, partition=partition)
            self.instance.report_runless_asset_event(event)

    def tick(self) -> set[dg.AssetKey]:
        """One evaluation; returns the assets it requested (and marks them built)."""
        result = dg.evaluate_automation_conditions(
            defs=self.defs,
            instance=self.instance,
            asset_selection=warehouse_automation.asset_selection,
            cursor=self.cursor,
        )
        self.cursor = result.cursor
        requested = {r.key for r in result.results if r.true_subset.size}
        for key in requested:
            if isinstance(key, dg.AssetKey):
                partitions = None
                if self.graph.get(key).partitions_def is not None:
                    subset = next(r for r in result.results if r.key == key).true_subset
                    partitions = list(subset.expensively_compute_partition_keys())
                self.materialize(key, partitions)
        return requested

    def load_lake_day(self) -> None:
        """Every lake asset below the warehouse materialized for a few partitions of DAY."""
        for key in self.graph.get_all_asset_keys():
            if key in self.target:
                continue
            partitions_def = self.graph.get(key).partitions_def
            if partitions_def is None:
                self.materialize(key)
            else:
                keys = [k for k in partitions_def.get_partition_keys() if k.startswith(DAY)]
                self.materialize(key, keys[:3])


@pytest.fixture
def sensor(tmp_path: Path, instance: dg.DagsterInstance) -> Sensor:
    """A platform whose lake and warehouse were built once (as `process` does), then left idle."""
    sensor = Sensor(tmp_path / "home", instance)
    sensor.tick()  # the sensor's first evaluation only starts its cursor
    sensor.load_lake_day()
    for key in sorted(sensor.target, key=lambda k: k.to_user_string()):
        node = sensor.graph.get(key)
        sensor.materialize(key, [DAY] if node.partitions_def is not None else None)
    return sensor


def _settle(sensor: Sensor) -> None:
    """Tick until nothing is requested: check results collect after the lake's checks."""
    for _ in range(4):
        if not sensor.tick():
            return
    raise AssertionError("the sensor kept requesting runs after the build")


def test_an_idle_platform_requests_no_run_and_a_lake_update_only_the_models_below_it(
    sensor: Sensor,
) -> None:
    """One platform, built once: left idle it gets no run; then a lake table's new
    materialization requests exactly the models downstream of it."""
    _settle(sensor)
    assert [sensor.tick() for _ in range(6)] == [set()] * 6

    sensor.materialize(DAILY_BARS, [f"{DAY}|CL"])
    requested = sensor.tick()
    names = {k.path[-1] for k in requested if isinstance(k, dg.AssetKey)}
    assert {
        "stg_analytics__futures_bars_daily",
        "int_futures__contract_days",
        "fct_futures_bars_daily",
        "dim_instrument",
    } <= names
    assert not names & {"dim_date", "fct_option_eod", "fct_vol_surface", "ref_futures_roots"}
    follow_ups = [sensor.tick() for _ in range(4)]
    assert follow_ups[-2:] == [set(), set()], "the platform settles once the models are rebuilt"
