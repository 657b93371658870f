"""The test profile's Dagster instance on a real PostgreSQL cluster: a futures load through Dagster
writes its runs, events, check evaluations and schedule ticks there (nothing in SQLite), and the
operator's commands (runs, status, gaps, config validate) read them back."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from sqlalchemy import event
from sqlalchemy.pool import Pool
from typer.testing import CliRunner

from market_spine.check_kit import summarize_failures
from market_spine.cli import app
from market_spine.futures import keys
from market_spine.futures.definitions import ASSET_KEYS
from market_spine.home import instance as home_instance
from market_spine.operations.status import latest_check_executions, missed_ticks
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.instance_writes import EVENT_BATCH_SIZE, POOL_SIZE, hold_connections
from market_spine.runs.launch import materialize_range
from market_spine.runs.location import code_location
from market_spine.runs.outcome import failed_evaluations
from market_spine.settings import Settings
from market_spine_tests.kit.postgres import PostgresServer
from market_spine_tests.kit.run_homes import unreachable_ib
from market_spine_tests.kit.schedules import add_tick, beat, running_schedule

runner = CliRunner()
DAYS = (date(2024, 3, 4), date(2024, 3, 5))


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    """A database of this test's own on the cluster."""
    return postgres.create_database(f"dagster_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def pg_home(
    home: Path, postgres: PostgresServer, database: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A home under the test profile, its instance's credentials in the environment."""
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    monkeypatch.setenv("MARKET_SPINE_PROFILE", "test")
    for name, value in postgres.env(database).items():
        monkeypatch.setenv(name, value)
    return home


@pytest.fixture
def pg_instance(pg_home: Path) -> Iterator[dg.DagsterInstance]:
    with home_instance(Settings.from_env()) as inst:
        yield inst


def test_a_futures_load_through_dagster_lands_in_postgres(
    pg_home: Path, pg_instance: dg.DagsterInstance, postgres: PostgresServer, database: str
) -> None:
    assert isinstance(pg_instance.run_storage, PostgresRunStorage)
    assert isinstance(pg_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(pg_instance.schedule_storage, PostgresScheduleStorage)

    [run] = materialize_range(Settings.from_env(), ["CL"], *DAYS, instance=pg_instance)
    assert run.success, run

    assert pg_instance.get_materialized_partitions(keys.DAILY_BARS) == {
        "2024-03-04|CL",
        "2024-03-05|CL",
    }
    checks = pg_instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=1000
    ).records
    assert checks and all(r.event_log_entry.dagster_event.event_specific_data for r in checks)
    # The rows are in PostgreSQL, and the home holds no SQLite run database.
    assert postgres.count(database, "select count(*) from runs") == 1
    materialized = (
        "select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'"
    )
    assert postgres.count(database, materialized) == 2 * len(ASSET_KEYS)
    assert not (pg_home / "dagster" / "history" / "runs.db").exists()

    failed = materialize_range(
        Settings.from_env(), ["ES"], DAYS[0], DAYS[0], instance=pg_instance, market=unreachable_ib()
    )
    assert not failed[0].success

    listed = runner.invoke(app, ["runs", "--json", "--status", "failure"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert row["run_id"] == failed[0].run_id and row["partitions"] == f"{DAYS[0]} ES"

    beat(pg_instance)
    status = runner.invoke(app, ["status", "--json"])
    report = json.loads(status.stdout)
    assert {h["name"]: h["ok"] for h in report["health"]}["daemon"] is True
    assert [f["run_id"] for f in report["failures"]] == [failed[0].run_id]

    gaps = ["--start", "2024-03-04", "--end", "2024-03-05", "--domain", "futures"]
    complete = runner.invoke(app, ["gaps", *gaps, "--symbols", "CL"])
    assert complete.exit_code == 0, complete.output
    assert f"0 of {2 * len(ASSET_KEYS)} owed partitions missing" in complete.output
    owed = runner.invoke(app, ["gaps", *gaps, "--symbols", "ES"])
    assert owed.exit_code == 1
    assert f"{2 * len(ASSET_KEYS)} of {2 * len(ASSET_KEYS)} owed" in owed.output


def test_a_schedule_tick_is_kept_in_postgres(
    pg_instance: dg.DagsterInstance, postgres: PostgresServer, database: str
) -> None:
    [repo] = code_location(pg_instance).get_repositories().values()
    schedule = repo.get_schedule("futures_freshness_schedule")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    state = running_schedule(
        pg_instance, schedule.get_remote_origin(), schedule.cron_schedule, now - timedelta(days=1)
    )
    [missed] = missed_ticks(pg_instance, now)
    add_tick(pg_instance, state, datetime.fromisoformat(missed["due"]))
    assert missed_ticks(pg_instance, now) == []
    assert postgres.count(database, "select count(*) from job_ticks") == 1


def test_validate_finds_the_schema_migrated_and_names_a_fresh_or_wrong_database(
    pg_home: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    home_instance(Settings.from_env()).dispose()
    migrated = runner.invoke(app, ["config", "validate", "--profile", "test"])
    assert migrated.exit_code == 0, migrated.output
    assert f"ok postgres: 127.0.0.1:{postgres.port}/" in migrated.output
    assert "the Dagster schema is migrated" in migrated.output

    monkeypatch.setenv("DAGSTER_PG_DB", postgres.create_database("empty_" + uuid.uuid4().hex[:8]))
    fresh = runner.invoke(app, ["config", "validate", "--profile", "test"])
    assert fresh.exit_code == 1
    assert "holds no Dagster schema: create it with `market-spine up`" in fresh.output

    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "wrong")
    refused = runner.invoke(app, ["config", "validate", "--profile", "test"])
    assert refused.exit_code == 1
    assert "password authentication failed" in refused.output
    assert "correct DAGSTER_PG_HOST" in refused.output


class Connections:
    """New database connections opened by any SQLAlchemy pool of this process while counting."""

    def __init__(self) -> None:
        self.opened = 0
        event.listen(Pool, "connect", self._opened)

    def _opened(self, *_: object) -> None:
        self.opened += 1

    def close(self) -> None:
        event.remove(Pool, "connect", self._opened)


def test_a_chunked_backfill_holds_its_connections_and_records_every_partition(
    pg_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    week = (date(2024, 3, 4), date(2024, 3, 8))
    connections = Connections()
    try:
        runs = materialize_range(
            Settings.from_env(), ["CL"], *week, instance=pg_instance, days_per_run=2
        )
    finally:
        connections.close()
    assert all(r.success for r in runs), runs
    # Five sessions in runs of two: a failure would be retried for its two days only.
    assert [(r.start, r.end) for r in runs] == [
        (date(2024, 3, 4), date(2024, 3, 5)),
        (date(2024, 3, 6), date(2024, 3, 7)),
        (date(2024, 3, 8), date(2024, 3, 8)),
    ]
    # Connect-per-statement opened a connection for each of the thousand-odd statements;
    # held connections are opened once per storage, plus a few for bursts.
    assert connections.opened <= 3 * (POOL_SIZE + 2), connections.opened
    assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == str(EVENT_BATCH_SIZE)
    assert hold_connections(pg_instance) == 0  # already held: nothing replaced twice

    # Still one materialization per asset partition, and one evaluation of each check.
    keys_of_week = {f"2024-03-0{day}|CL" for day in range(4, 9)}
    for asset in ASSET_KEYS:
        events = pg_instance.fetch_materializations(asset, limit=100).records
        partitions = [e.partition_key for e in events]
        assert sorted(partitions) == sorted(keys_of_week), asset
    evaluated = [
        (e.asset_key, e.check_name, e.partition)
        for run in runs
        for r in pg_instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        if (e := r.dagster_event.event_specific_data).partition is not None  # type: ignore[union-attr]
    ]
    assert len(evaluated) == len(set(evaluated))
    by_check: dict[tuple[dg.AssetKey, str], set[str]] = {}
    for asset, name, partition in evaluated:
        by_check.setdefault((asset, name), set()).add(partition)
    assert by_check and all(p == keys_of_week for p in by_check.values()), by_check


def test_a_backfill_builds_definitions_and_plan_once_and_records_every_run(
    pg_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its runs share one build of the definitions (code location, execution plans, runs) and
    one execution plan, and each run is still recorded whole: listed by `runs`, with one
    materialization of every asset partition and every check's verdict on each."""
    from dagster._core.remote_representation.code_location import InProcessCodeLocation

    from market_spine import definitions

    monkeypatch.setattr(definitions, "_built", None)
    built: list[Settings] = []
    build = definitions.build_definitions
    monkeypatch.setattr(
        definitions, "build_definitions", lambda settings: built.append(settings) or build(settings)
    )
    planned: list[str] = []
    plan = InProcessCodeLocation.get_execution_plan

    def counted_plan(
        self: InProcessCodeLocation, job: object, *args: object, **kw: object
    ) -> object:
        planned.append(job.name)  # type: ignore[attr-defined]
        return plan(self, job, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(InProcessCodeLocation, "get_execution_plan", counted_plan)

    days = (date(2024, 3, 4), date(2024, 3, 7))
    runs = materialize_range(
        Settings.from_env(), ["CL", "ES"], *days, instance=pg_instance, days_per_run=2
    )
    assert len(runs) == 4 and all(r.success for r in runs), runs
    assert len(built) == 1 and len(planned) == 1, (len(built), planned)

    listed = runner.invoke(app, ["runs", "--json", "--limit", "20"])
    assert listed.exit_code == 0, listed.output
    assert {r["run_id"] for r in json.loads(listed.stdout)} == {r.run_id for r in runs}
    partitions = {f"2024-03-0{day}|{symbol}" for day in range(4, 8) for symbol in ("CL", "ES")}
    for asset in ASSET_KEYS:
        records = pg_instance.fetch_materializations(asset, limit=100).records
        assert sorted(r.partition_key for r in records) == sorted(partitions), asset
    verdicts: dict[tuple[str, str], set[str]] = {}
    for asset_key, name, partition, status, _, _ in latest_check_executions(pg_instance):
        if partition is not None:
            assert status in ("SUCCEEDED", "FAILED"), (asset_key, name, partition, status)
            verdicts.setdefault((asset_key, name), set()).add(partition)
    assert verdicts and all(p == partitions for p in verdicts.values()), verdicts


def test_the_instance_password_is_read_from_its_mounted_secret_file(
    pg_home: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = pg_home.parent / "postgres_password"
    secret.write_text(os.environ["DAGSTER_PG_PASSWORD"] + "\n")
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD_FILE", str(secret))

    with home_instance(Settings.from_env()) as inst:
        assert isinstance(inst.run_storage, PostgresRunStorage)
        assert inst.get_runs_count() == 0
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    validated = runner.invoke(app, ["config", "validate", "--profile", "test"])
    assert f"ok postgres: 127.0.0.1:{postgres.port}/" in validated.output, validated.output
    assert validated.exit_code == 0, validated.output

    monkeypatch.delenv("DAGSTER_PG_PASSWORD", raising=False)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD_FILE", str(pg_home.parent / "absent"))
    unreadable = runner.invoke(app, ["config", "validate", "--profile", "test"])
    assert unreadable.exit_code == 1
    assert "DAGSTER_PG_PASSWORD_FILE=" in unreadable.output
    assert "cannot be read" in unreadable.output


def test_a_runs_failed_checks_are_read_from_its_failed_verdicts_alone(
    pg_instance: dg.DagsterInstance,
) -> None:
    """The failed checks a run reports are those its evaluation events record, read back from
    the check rows that failed, not from every evaluation of the run."""
    gappy = MarketDataResource(defects=["gaps"])
    [run] = materialize_range(
        Settings.from_env(), ["CL"], *DAYS, instance=pg_instance, market=gappy
    )
    every = pg_instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    evaluations = [r.dagster_event.event_specific_data for r in every]  # type: ignore[union-attr]
    failed = [e for e in evaluations if not e.passed]  # type: ignore[union-attr]
    assert failed and len(failed) < len(evaluations)
    assert failed_evaluations(pg_instance, run.run_id) == failed
    assert run.failed_checks == summarize_failures(evaluations)  # type: ignore[arg-type]
    assert "normalized/futures_bars_1m:completeness" in " ".join(run.failed_checks)
