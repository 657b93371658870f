"""How run processes write to the instance: a SQLite instance's storages keep an engine per
database and store the same events, a deployment's own event batch size is kept, and a chunk
size below one trade date is refused before any run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from market_spine.errors import InvalidInput
from market_spine.runs import sqlite_engines
from market_spine.runs.instance_writes import EVENT_BATCH_SIZE, batch_event_writes, hold_connections
from market_spine.runs.launch import materialize_range
from market_spine.runs.sqlite_engines import keep_engines
from market_spine_tests.kit.homes import settings_for


def test_a_sqlite_instance_keeps_its_pool_free_storages() -> None:
    with dg.instance_for_test() as instance:
        storages = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
        before = [vars(s).copy() for s in storages]
        assert hold_connections(instance) == 0
        assert [vars(s) for s in storages] == before


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="prices")])
def prices() -> Iterator[dg.Output[int] | dg.AssetCheckResult]:
    yield dg.Output(3, metadata={"rows": 3})
    yield dg.AssetCheckResult(passed=True)


@pytest.fixture
def stock_storages() -> Iterator[None]:
    """Dagster's own SQLite storages, without the engines the test kit gives every instance."""
    from market_spine_tests.kit.sqlite_sync import reused_engines, stock_engines

    stock_engines()
    yield
    reused_engines()


@pytest.mark.usefixtures("stock_storages")
def test_a_sqlite_instance_makes_one_engine_per_database_and_stores_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = sqlite_engines.create_engine

    def counted(url: str, **options: Any) -> Any:
        made.append(url)
        return real(url, **options)

    monkeypatch.setattr(sqlite_engines, "create_engine", counted)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert keep_engines(instance) == 3
        assert keep_engines(instance) == 0
        runs = [dg.materialize([prices], instance=instance).run_id for _ in range(3)]
    # Each database once: the runs', the schedules', the event index and each run's shard,
    # though every run writes dozens of statements.
    assert sorted(made) == sorted(set(made))
    assert len([u for u in made if any(r in u for r in runs)]) == 3
    with dg.instance_for_test(temp_dir=str(tmp_path)) as again:
        assert {r.run_id for r in again.get_runs()} == set(runs)
        for run in runs:
            kinds = [e.dagster_event_type for e in again.all_logs(run) if e.is_dagster_event]
            assert kinds.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == 1
            assert kinds.count(dg.DagsterEventType.ASSET_CHECK_EVALUATION) == 1
            assert kinds[-1] == dg.DagsterEventType.RUN_SUCCESS
        newest = again.get_latest_materialization_event(dg.AssetKey("prices"))
        assert newest is not None and newest.run_id == runs[-1]


def test_batches_are_dagsters_default_unless_the_deployment_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    batch_event_writes()
    assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == str(EVENT_BATCH_SIZE)
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "7")
    batch_event_writes()
    assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == "7"


def test_a_run_of_no_trade_dates_is_refused_before_any_run(home: Path) -> None:
    with dg.instance_for_test() as instance:
        with pytest.raises(InvalidInput, match="--days-per-run 0: a run covers at least one"):
            materialize_range(
                settings_for(home),
                ["CL"],
                date(2024, 3, 4),
                date(2024, 3, 8),
                instance=instance,
                days_per_run=0,
            )
        assert instance.get_runs() == []
