"""The freshness check's verdict in a load run points at the asset's latest materialization,
found by one lookup: the check never lists the asset's partitions (every trade date since the
history's start × every symbol) to find it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.partitions.definition.multi import MultiPartitionsDefinition
from dagster._core.events import DagsterEventType

from market_spine.futures import keys
from market_spine.operations.freshness import FRESHNESS_CHECK_KEY
from market_spine_tests.kit.homes import load_at

#: The most partition keys a two-day load of one symbol has any reason to list.
FEW_KEYS = 100


@pytest.fixture
def listed() -> Iterator[list[int]]:
    """How many keys each listing of a date × symbol partitions definition returned."""
    sizes: list[int] = []
    original = MultiPartitionsDefinition.get_partition_keys

    def counted(self: MultiPartitionsDefinition, *args: object, **kwargs: object) -> object:
        found = original(self, *args, **kwargs)
        sizes.append(len(found))
        return found

    MultiPartitionsDefinition.get_partition_keys = counted  # type: ignore[method-assign]
    try:
        yield sizes
    finally:
        MultiPartitionsDefinition.get_partition_keys = original  # type: ignore[method-assign]


def test_a_load_runs_freshness_against_the_latest_materialization_without_listing_partitions(
    home: Path, instance: dg.DagsterInstance, listed: list[int]
) -> None:
    [run] = load_at(
        home, instance, "2024-03-05T15:30:00Z", date(2024, 3, 4), date(2024, 3, 5), ["CL"]
    )

    assert max(listed, default=0) <= FEW_KEYS, f"a listing of {max(listed)} partition keys"
    [*evaluations] = [
        r.event_log_entry.dagster_event.event_specific_data
        for r in instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=1000
        ).records
    ]
    [freshness] = [e for e in evaluations if e.asset_check_key == FRESHNESS_CHECK_KEY]
    [latest] = instance.get_asset_records([keys.NORMALIZED_BARS])
    newest = latest.asset_entry.last_materialization_record
    assert freshness.passed and freshness.partition is None
    assert freshness.target_materialization_data.storage_id == newest.storage_id
    assert freshness.target_materialization_data.run_id == run.run_id
    executions = instance.event_log_storage.get_asset_check_execution_history(
        FRESHNESS_CHECK_KEY, limit=5
    )
    assert [e.status.value for e in executions] == ["SUCCEEDED"]
