"""A run of an asset job created the way the daemon creates a schedule's run (the job named, no
asset selection of its own) carries its job's datasets: `runs show` lists them and the cost
report prices the run under their component, not as an `other` pseudo-asset named after the
job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from market_spine.catalog.registry import CATALOG
from market_spine.cli import app
from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.home import instance as home_instance
from market_spine.operations.cost.prices import PriceSheet
from market_spine.operations.cost.report import cost_report
from market_spine.operations.run_history import run_datasets
from market_spine.runs import meter
from market_spine.runs.location import code_location, location_job
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import DAY

#: $1 per CPU second.
PRICES = PriceSheet(vcpu_hour=3600.0)


def scheduled_run(instance: dg.DagsterInstance, job_name: str) -> dg.DagsterRun:
    """A run of `job_name` over CL on DAY as the scheduler creates one from a RunRequest: the
    job's remote origin and plan, the partition tag, and no asset selection."""
    location = code_location(instance)
    [repo] = location.get_repositories().values()
    job = location_job(location, job_name)
    plan = location.get_execution_plan(
        job, {}, step_keys_to_execute=None, known_state=None, instance=instance
    ).execution_plan_snapshot
    return instance.create_run(
        job_name=job.name,
        run_id=None,
        run_config={},
        resolved_op_selection=None,
        step_keys_to_execute=None,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**job.tags, "dagster/partition": str(partition_key(DAY, "CL"))},
        job_snapshot=job.job_snapshot,
        execution_plan_snapshot=plan,
        parent_job_snapshot=job.parent_job_snapshot,
        remote_job_origin=job.get_remote_origin(),
        job_code_origin=job.get_python_origin(),
        asset_selection=None,
        asset_check_selection=None,
        asset_graph=repo.asset_graph,
    )


def test_a_scheduled_futures_run_is_listed_and_priced_under_futures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path / "home")
    monkeypatch.setenv("MARKET_SPINE_HOME", str(settings.home))
    with home_instance(settings) as instance:
        run = scheduled_run(instance, "futures_bars")
        assert run.asset_selection is None
        # What the run's own executor records once its steps end: real figures of this process.
        metering = meter.RunMeter().start()
        sum(i * i for i in range(2_000_000))
        used_tags = metering.tags(run.run_id, {})
        instance.add_run_tags(run.run_id, used_tags)
        cpu = float(used_tags[meter.CPU_S])

        datasets = run_datasets(run, instance)
        assert set(k.to_user_string() for k in keys.IN_LINEAGE) <= set(datasets)

        now = datetime.now(UTC)
        report = cost_report(
            instance,
            list(CATALOG),
            settings.lake(),
            settings.home,
            PRICES,
            since=now - timedelta(days=1),
            by="component",
            now=now,
        )
    components = {line.key: line for line in report.lines}
    assert "other" not in components, components
    assert components["futures"].compute_usd == pytest.approx(cpu, rel=1e-6)
    assert cpu > 0
    assert report.metered_runs == 1

    shown = CliRunner().invoke(app, ["runs", "show", run.run_id, "--json"])
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.output)
    assert keys.RAW_BARS.to_user_string() in detail["datasets"]
