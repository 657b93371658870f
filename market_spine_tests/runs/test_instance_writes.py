"""How run processes write to the instance: a SQLite instance is left as it is, a deployment's
own event batch size is kept, and a chunk size below one trade date is refused before any run."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from market_spine.errors import InvalidInput
from market_spine.runs.instance_writes import EVENT_BATCH_SIZE, batch_event_writes, hold_connections
from market_spine.runs.launch import materialize_range
from market_spine_tests.kit.homes import settings_for


def test_a_sqlite_instance_keeps_its_storages() -> None:
    with dg.instance_for_test() as instance:
        storages = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
        before = [vars(s).copy() for s in storages]
        assert hold_connections(instance) == 0
        assert [vars(s) for s in storages] == before


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
