"""A run's CPU per asset, measured around each step the in-process executor (the default) runs
one after another in the run's process: a heavy asset is charged more than a light one of the
same run, the measurement is labelled as such in the cost report, and only the run's CPU outside
its steps is shared evenly (an estimate)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from market_spine.operations.cost.prices import PriceSheet
from market_spine.operations.cost.report import asset_cpu, run_lines
from market_spine.runs import meter
from market_spine.runs.metered_executor import metered_executor

#: CPU seconds the heavy asset burns: well above the run's own start and end, and above five
#: times what Dagster spends on a light step (0.14 s seen on a loaded runner).
HEAVY_S = 1.2


@dg.asset(key_prefix="test")
def heavy() -> int:
    began = time.process_time()
    spins = 0
    while time.process_time() - began < HEAVY_S:
        spins += 1
    return spins


@dg.asset(key_prefix="test", deps=[heavy])
def light() -> int:
    return 1


def heavy_and_light_job() -> dg.JobDefinition:
    """The two assets as one job on the platform's executor (in process, metered)."""
    both = dg.define_asset_job("heavy_and_light", executor_def=metered_executor)
    return dg.Definitions(assets=[heavy, light], jobs=[both]).resolve_job_def("heavy_and_light")


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    folder = tmp_path_factory.mktemp("step_cpu")
    with dg.instance_for_test(temp_dir=str(folder)) as inst:
        with dg.execute_job(dg.reconstructable(heavy_and_light_job), instance=inst) as result:
            assert result.success
        yield inst


def test_each_step_s_cpu_is_recorded_for_its_asset(instance: dg.DagsterInstance) -> None:
    [run] = instance.get_runs()
    used = meter.usage(run.tags, run.run_id)
    assert used is not None
    measured = used.asset_cpu_s
    assert set(measured) == {"test/heavy", "test/light"}, run.tags
    assert measured["test/heavy"] >= HEAVY_S * 0.9
    assert measured["test/light"] < measured["test/heavy"] / 5
    assert sum(measured.values()) <= used.cpu_s


def test_the_report_charges_the_heavy_asset_more_and_says_it_was_measured(
    instance: dg.DagsterInstance,
) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    costs = run_lines(instance, since, PriceSheet(vcpu_hour=3600.0))
    lines = {line.key: line for line in costs.lines}
    assert set(lines) == {"test/heavy", "test/light"}
    heavy_line, light_line = lines["test/heavy"], lines["test/light"]
    assert heavy_line.cpu_s > 3 * light_line.cpu_s
    assert heavy_line.compute_usd > 3 * light_line.compute_usd
    assert heavy_line.cpu_measured_s >= HEAVY_S * 0.9
    assert light_line.cpu_measured_s > 0
    [run] = instance.get_runs()
    used = meter.usage(run.tags, run.run_id)
    assert used is not None
    assert heavy_line.cpu_s + light_line.cpu_s == pytest.approx(used.cpu_s)


def test_an_unmeasured_asset_gets_the_even_share_of_the_rest_labelled_estimate() -> None:
    used = meter.RunUsage(10.0, 0.0, 0.0, 0.0, {}, asset_cpu_s={"a": 6.0})
    cpu = asset_cpu(used, ["a", "b", "c"])
    assert cpu == {"a": (6.0, 6.0), "b": (2.0, 0.0), "c": (2.0, 0.0)}
    # Nothing measured (steps in processes of their own): the even split of old.
    bare = meter.RunUsage(9.0, 0.0, 0.0, 0.0, {})
    assert asset_cpu(bare, ["a", "b", "c"]) == {k: (3.0, 0.0) for k in "abc"}
