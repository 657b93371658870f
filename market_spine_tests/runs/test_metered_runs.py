"""Every run meters itself, whatever launched it: a run executed as the daemon's and the
Kubernetes run launcher's workers execute it (`dagster api execute_run` in a process of its own,
a process per step) records its CPU, memory, bytes and provider requests and is priced; a CLI run
is metered once, with the same requests for the same capture."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from dagster._grpc.types import ExecuteRunArgs

from market_spine.catalog.registry import CATALOG
from market_spine.fakes.tws import FakeTWS
from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.home import instance as home_instance
from market_spine.lake.store import lake_at
from market_spine.operations.cost.prices import PriceSheet
from market_spine.operations.cost.report import cost_report
from market_spine.providers.resource import MarketDataResource
from market_spine.runs import meter
from market_spine.runs.launch import create_run, execute
from market_spine.runs.metered_executor import RUN_METERED
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import DAY

#: $1 per CPU second, $1 per IB request.
PRICES = PriceSheet(vcpu_hour=3600.0, per_1k_requests_by_provider={"ib": 1000.0})


def requests_served(tws: FakeTWS) -> int:
    """The requests the fake TWS has answered that the capture counts: contracts and history."""
    served = tws.stats()["requests"]
    return served.get("historical_data", 0) + served.get("contract_details", 0)


def metered_events(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records
    events = [r.event_log_entry.dagster_event for r in records]
    return [e.message for e in events if e is not None and e.message == RUN_METERED]


def raw_capture_run(
    home: Path, port: int, execution: str
) -> tuple[dg.DagsterInstance, dg.DagsterRun]:
    """A run capturing CL on DAY from the fake TWS at `port`, created as the UI or a schedule
    would create it (NOT_STARTED, the code location's origin)."""
    settings = settings_for(home)
    instance = home_instance(settings)
    key = str(partition_key(DAY, "CL"))
    run = create_run(
        settings,
        [keys.RAW_BARS],
        instance=instance,
        partition_range=(key, key),
        market=MarketDataResource(provider="ib", ib_port=port),
        launched_from="schedule",
        execution=execution,
    )
    return instance, run


def execute_as_the_run_launcher_does(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """`dagster api execute_run` in a process of its own: the command the daemon's default run
    launcher has the code server start, and the K8s run launcher's Job runs."""
    assert run.job_code_origin is not None
    args = ExecuteRunArgs(run.job_code_origin, run.run_id, instance.get_ref())
    command = [sys.executable, "-m", "dagster", *args.get_command_args()[1:]]
    env = {
        **os.environ,
        "DAGSTER_HOME": instance.root_directory,
        "MARKET_SPINE_HOME": str(Path(instance.root_directory).parent),
        "MARKET_SPINE_PROFILE": "test",
    }
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]


@pytest.fixture(scope="module")
def tws() -> object:
    with FakeTWS.running() as fake:
        yield fake


def test_a_run_the_launcher_executes_is_metered_and_priced(tmp_path: Path, tws: FakeTWS) -> None:
    home = tmp_path / "home"
    instance, run = raw_capture_run(home, tws.port, "multiprocess")
    before = requests_served(tws)
    execute_as_the_run_launcher_does(instance, run)
    sent = requests_served(tws) - before

    ended = instance.get_run_by_id(run.run_id)
    assert ended is not None and ended.status == dg.DagsterRunStatus.SUCCESS
    used = meter.usage(ended.tags, run.run_id)
    assert used is not None, ended.tags
    # Each step ran in a process of its own (a Python that imports the platform: > 1 s of CPU
    # and > 100 MiB resident), and their requests were reported from there.
    assert used.cpu_s > 1.0 and used.peak_memory_mb > 100
    assert used.written_mb > 0
    assert sent > 0 and used.provider_requests == {"ib": sent}
    assert len(metered_events(instance, run.run_id)) == 1

    now = datetime.now(UTC)
    report = cost_report(
        instance,
        list(CATALOG),
        lake_at(str(settings_for(home).lake_root)),
        home,
        PRICES,
        since=now - timedelta(days=1),
        by="asset",
        now=now,
    )
    assert report.metered_runs == 1 and report.unmetered_runs == 0
    assert report.totals.compute_usd == pytest.approx(used.cpu_s, rel=1e-6)
    assert report.totals.requests_usd == pytest.approx(sent, rel=1e-6)
    instance.dispose()


def test_a_cli_run_is_metered_once_with_the_same_requests(tmp_path: Path, tws: FakeTWS) -> None:
    instance, run = raw_capture_run(tmp_path / "home", tws.port, "in_process")
    before = requests_served(tws)
    launched = execute(instance, run)
    assert launched.success, launched.failure
    sent = requests_served(tws) - before

    ended = instance.get_run_by_id(run.run_id)
    assert ended is not None
    used = meter.usage(ended.tags, run.run_id)
    assert used is not None and used.cpu_s > 0
    assert sent > 0 and used.provider_requests == {"ib": sent}
    assert len(metered_events(instance, run.run_id)) == 1
    instance.dispose()
