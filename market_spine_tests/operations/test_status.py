"""`market-spine status` on real homes: green only when the daemon beats, the UI and the API
answer, nothing failed, nothing is stale and no tick was missed; a failed run is listed with its
cause and whether a retry is safe; a schedule without its tick is named."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import WILL_RETRY_TAG
from dagster._daemon.types import DaemonHeartbeat
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.definitions import build_definitions
from market_spine.futures import definitions as futures
from market_spine.home import instance as home_instance
from market_spine.operations import definitions as operations
from market_spine.operations.freshness import freshness_job
from market_spine.operations.retry import plan_retry
from market_spine.operations.status import (
    checks_failing,
    collect_status,
    daemon_health,
    missed_ticks,
)
from market_spine.options import definitions as options
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import RunSummary, resources
from market_spine.runs.location import code_location
from market_spine.settings import Settings
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.home_copies import copy_home
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import DAY, open_instance, run_days, unreachable_ib
from market_spine_tests.kit.schedules import add_tick, beat, running_schedule
from market_spine_tests.operations.test_retry import futures_run

runner = CliRunner()


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def cl_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding one successful CL run of DAY; tests copy it (see `copy_home`)."""
    home = tmp_path_factory.mktemp("status-cl") / "home"
    assert run_days(home, "CL", DAY).success
    return home


@pytest.fixture(scope="module")
def spiky_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    """A home holding one CL run of DAY from a market with spikes (its anomalies check fails),
    and that run; tests copy it (see `copy_home`)."""
    home = tmp_path_factory.mktemp("status-spiky") / "home"
    spiky = run_days(home, "CL", DAY, market=MarketDataResource(defects=["spikes"]))
    return home, spiky


@contextmanager
def webserver() -> Iterator[int]:
    """An HTTP server on loopback answering 200, standing in for the Dagster webserver."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def served(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The home's API (the real app) and a webserver on loopback, with the daemon beating, and
    the environment naming their ports as the home's settings."""
    with webserver() as ui_port, serving(home, ui_port=ui_port) as api:
        monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
        monkeypatch.setenv("MARKET_SPINE_UI_PORT", str(ui_port))
        monkeypatch.setenv("MARKET_SPINE_API_PORT", str(api.base_url.port))
        beat(open_instance(home))
        yield


def test_green_home_exits_0_and_a_failed_run_makes_it_red_with_its_cause(
    cl_home: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_home(cl_home, home)
    with served(home, monkeypatch):
        green = runner.invoke(app, ["status", "--json"])
        report = json.loads(green.stdout)
        assert green.exit_code == 0, report
        assert report["ok"] is True
        names = {h["name"]: h["ok"] for h in report["health"]}
        assert names == {
            "daemon": True,
            "webserver": True,
            "api": True,
            "provider simulated": True,
            "options simulated": True,
            "disk": True,
            "memory": True,
            "integrity": True,
        }
        assert report["failures"] == [] and report["active_runs"] == []

        failed = run_days(home, "ES", DAY, market=unreachable_ib())
        instance = open_instance(home)
        plan = plan_retry(instance, failed.run_id)
        assert plan.verdict == "daemon retry" and "daemon is retrying" in plan.reason
        # Shown while the daemon owes its retry; then one the daemon decided not to retry.
        [owed] = json.loads(runner.invoke(app, ["status", "--json"]).stdout)["failures"]
        assert owed["retry"] == "daemon retry" and owed["retry_safe"] is False
        instance.add_run_tags(failed.run_id, {WILL_RETRY_TAG: "false"})
        red = runner.invoke(app, ["status", "--json"])
        assert red.exit_code == 1
        [failure] = json.loads(red.stdout)["failures"]
        assert failure["run_id"] == failed.run_id and failure["partitions"] == f"{DAY} ES"
        assert "127.0.0.1:" in failure["cause"]
        assert failure["retry_safe"] is True and failure["retry"] == "retry"

        running = futures_run(home, f"{DAY}|ES")
        busy = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
        [failure] = busy["failures"]
        assert failure["retry_safe"] is False and running.run_id[:8] in failure["retry_reason"]
        assert [r["run_id"] for r in busy["active_runs"]] == [running.run_id]

        screen = runner.invoke(app, ["status"], terminal_width=160)
        assert screen.exit_code == 1
        assert failed.run_id[:8] in screen.stdout and "retry unsafe" in screen.stdout


def test_services_down_are_red(cl_home: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_home(cl_home, home)
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    monkeypatch.setenv("MARKET_SPINE_UI_PORT", "9")  # discard: nothing listens
    monkeypatch.setenv("MARKET_SPINE_PROVIDER", "ib")
    monkeypatch.setenv("MARKET_SPINE_IB_PORT", "9")
    settings = Settings.from_env()
    report = collect_status(settings, open_instance(home), verify=False)
    bad = {h.name for h in report.health if not h.ok}
    assert {"daemon", "webserver", "api", "provider ib"} <= bad
    assert not report.ok


def test_a_schedule_without_its_tick_is_named_until_it_ticks(home: Path) -> None:
    instance = home_instance(settings_for(home))
    [repo] = code_location(instance).get_repositories().values()
    schedule = repo.get_schedule("futures_freshness_schedule")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    started = now - timedelta(days=1)
    state = running_schedule(
        instance, schedule.get_remote_origin(), schedule.cron_schedule, started
    )
    [missed] = missed_ticks(instance, now)
    assert missed["schedule"] == "futures_freshness_schedule"
    due = datetime.fromisoformat(missed["due"])
    assert due.minute % 15 == 0 and now - timedelta(minutes=20) <= due <= now

    add_tick(instance, state, due)
    assert missed_ticks(instance, now) == []


def test_every_schedule_runs_on_utc(tmp_path: Path) -> None:
    """missed_ticks reads the stored crons on UTC: a schedule on another clock would be judged
    hours off."""
    repo = build_definitions(settings_for(tmp_path)).get_repository_def()
    assert repo.schedule_defs
    assert {s.execution_timezone for s in repo.schedule_defs} == {"UTC"}


def test_stale_datasets_and_open_findings_come_from_the_latest_check_evaluations(
    spiky_home: tuple[Path, RunSummary], home: Path
) -> None:
    settings = settings_for(home)
    copy_home(spiky_home[0], home)
    spiky = spiky_home[1]
    instance = home_instance(settings)
    stale, findings = checks_failing(instance)
    assert stale == []
    failing = {(c["dataset"], c["check"]): c for c in findings["checks"]}
    anomalies = failing[("normalized/futures_bars_1m", "anomalies")]
    assert anomalies["partitions"] == [f"{DAY}|CL"] and anomalies["count"] == 1
    assert sum(findings["by_severity"].values()) == len(failing) >= 1, spiky

    # The next day, an hour and more into CL's session, with nothing captured for it.
    now = "2024-03-06T17:00:00Z"
    defs = dg.Definitions.merge(
        futures.build_definitions(settings),
        options.build_definitions(settings),
        operations.build_definitions(settings),
        dg.Definitions(resources=resources(settings, MarketDataResource(frozen_now=now))),
    )
    defs.resolve_job_def(freshness_job.name).execute_in_process(instance=instance)
    stale, _ = checks_failing(instance)
    by_dataset = {s["dataset"]: s for s in stale}
    bars = by_dataset["normalized/futures_bars_1m"]
    assert bars["check"] == "freshness" and bars["lag_minutes"]["CL"] > 60
    report = collect_status(settings, instance, verify=False)
    assert report.stale and not report.ok


def test_a_queued_or_canceled_recheck_never_hides_a_failed_verdict(
    spiky_home: tuple[Path, RunSummary], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run planning a partition's checks writes PLANNED rows before it runs them: while it
    waits, the failed verdict stays open with the re-check beside it; once it is canceled,
    the verdict stands as it was (and the metrics never count a PLANNED row as passing)."""
    from market_spine.futures import keys
    from market_spine.futures.partitions import partition_key
    from market_spine.operations.metrics import _checks
    from market_spine.runs.launch import create_run

    settings = settings_for(home)
    copy_home(spiky_home[0], home)
    instance = home_instance(settings)
    key = partition_key(DAY, "CL")

    def anomalies() -> dict[str, object]:
        _, findings = checks_failing(instance)
        by_check = {(c["dataset"], c["check"]): c for c in findings["checks"]}
        return by_check[("normalized/futures_bars_1m", "anomalies")]

    def failing_metric() -> float:
        [_, failing] = _checks(instance)
        return sum(
            s.value
            for s in failing.samples
            if s.labels["dataset"] == "normalized/futures_bars_1m"
            and s.labels["check"] == "anomalies"
        )

    assert anomalies()["rechecks"] == {} and failing_metric() == 1
    queued = create_run(settings, keys.IN_LINEAGE, instance=instance, partition_range=(key, key))
    finding = anomalies()
    assert finding["partitions"] == [key] and finding["rechecks"] == {key: "queued"}
    assert failing_metric() == 1
    with served(home, monkeypatch):
        screen = runner.invoke(app, ["status"], terminal_width=200)
        assert f"{key} failed (re-check queued)" in screen.stdout

    instance.report_run_canceled(queued)
    finding = anomalies()
    assert finding["partitions"] == [key] and finding["rechecks"] == {}
    assert failing_metric() == 1
    report = collect_status(settings, instance, verify=False)
    assert report.findings["by_severity"]["WARN"] == 1


def test_a_daemon_that_stopped_beating_turns_red_within_two_minutes(tmp_path: Path) -> None:
    with dg.DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        now = datetime.now(UTC)
        never = daemon_health(instance, now)
        assert not never.ok
        assert never.detail == (
            "not running (it has never run): start it with `market-spine up --days 0`"
        )
        for kind in instance.get_required_daemon_types():
            stamp = (now - timedelta(seconds=20)).timestamp()
            instance.add_daemon_heartbeat(DaemonHeartbeat(stamp, kind, "test", errors=[]))
        fresh = daemon_health(instance, now)
        assert fresh.ok and "each within 20 s" in fresh.detail
        late = daemon_health(instance, now + timedelta(seconds=130))
        assert not late.ok
        assert late.detail.startswith("not running (its last heartbeat was 150 s ago)")


@pytest.mark.parametrize(
    ("cls_name", "safe"),
    [
        ("ThetaDataWrongHost", False),
        ("ThetaDataBadRequest", False),
        ("ThetaDataPermission", False),
        ("ThetaDataUnavailable", True),
        ("ProviderUnavailable", True),
        ("RuntimeError", True),
        (None, True),
    ],
)
def test_a_failure_only_a_fix_removes_is_not_retry_safe(cls_name: str | None, safe: bool) -> None:
    """A 404 (wrong URL) or a 476 (wrong host) fails the same way on every retry: status must
    not call such a retry safe, even when nothing else stands in its way."""
    from market_spine.operations.status import retry_verdict

    ok, reason = retry_verdict(True, "no attempt is running", cls_name)
    assert ok is safe
    assert ("fix its cause first" in reason) is not safe
    assert retry_verdict(False, "busy", cls_name) == (False, "busy")


def test_a_failure_whose_retry_is_queued_stays_listed_until_it_succeeds(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While an attempt of a failed run waits or runs, status still lists the failure (being
    retried), never "no failures": a green screen then would hide a run that may fail again."""
    from market_spine.operations.retry import reexecute

    failed = run_days(home, "ES", DAY, market=unreachable_ib())
    instance = open_instance(home)
    instance.add_run_tags(failed.run_id, {WILL_RETRY_TAG: "false"})
    parent = instance.get_run_by_id(failed.run_id)
    assert parent is not None
    attempt = reexecute(instance, parent)
    with served(home, monkeypatch):
        report = runner.invoke(app, ["status", "--json"])
        assert report.exit_code == 1
        [failure] = json.loads(report.stdout)["failures"]
        assert failure["run_id"] == failed.run_id and failure["retry"] == "in progress"
        assert attempt.run_id[:8] in failure["retry_reason"] and failure["retry_safe"] is False
        screen = runner.invoke(app, ["status"], terminal_width=200)
        assert "being retried" in screen.stdout


def test_a_clean_stop_cancels_no_failure_into_status_but_missing_partitions_stay(
    tmp_path: Path,
) -> None:
    """Stopping the services cancels what runs (tagged as stopped by shutdown): a sweep over no
    partition is run again by its schedule, so it is not a failure; a canceled load of
    partitions leaves data missing, so it is."""
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from market_spine.operations.status import recent_failures
    from market_spine.runs.workers import STOPPED_TAGS

    canceled = dg.DagsterRunStatus.CANCELED
    key = f"{DAY}|ES"
    with dg.DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        sweep = dg.DagsterRun(job_name="freshness", status=canceled, tags=STOPPED_TAGS)
        load = dg.DagsterRun(
            job_name="__ASSET_JOB",
            status=canceled,
            tags={
                **STOPPED_TAGS,
                ASSET_PARTITION_RANGE_START_TAG: key,
                ASSET_PARTITION_RANGE_END_TAG: key,
            },
        )
        plain = dg.DagsterRun(job_name="freshness", status=canceled)
        for run in (sweep, load, plain):
            instance.add_run(run)
        found = {f["run_id"] for f in recent_failures(instance, datetime.now(UTC))}
    assert found == {load.run_id, plain.run_id}


def test_a_failed_data_quality_check_says_fix_the_data_not_retry_safe() -> None:
    """A blocking check fails again on the same rows: running it again is not the fix."""
    from market_spine.operations.status import retry_verdict

    ok, reason = retry_verdict(True, "no attempt is running", "DagsterAssetCheckFailedError")
    assert ok is False and "fix the data, then run it again" in reason
