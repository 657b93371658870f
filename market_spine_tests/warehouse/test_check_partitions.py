"""Checks are judged per partition: a range run with one bad partition shows exactly that
partition failed in the Dagster instance (what the UI reads), in `quality.check_results` and in
the warehouse's `mart_data_quality`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionResolvedStatus

from market_spine.definitions import build_definitions
from market_spine.futures import definitions as futures
from market_spine.futures import keys
from market_spine.futures.partitions import futures_partitions, partition_key
from market_spine.futures.raw_bars import build_raw_bars
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import materialize_range, resources
from market_spine.warehouse.assets import WAREHOUSE_DBT_ASSETS, warehouse_dbt
from market_spine.warehouse.project import dbt_resource
from market_spine.warehouse.quality import CHECKED_ASSETS, check_results
from market_spine.warehouse.resource import WarehouseResource
from market_spine.warehouse.tables import CHECK_RESULTS
from market_spine_tests.kit.homes import settings_for

FIRST, BAD, LAST = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)
FAILED = {
    ("normalized/futures_bars_1m:completeness", f"{BAD.isoformat()}|CL"),
    # Lost minutes fail the partition's certification too.
    ("normalized/futures_bars_1m:certified", f"{BAD.isoformat()}|CL"),
}
MART = dg.AssetKey(["marts", "mart_data_quality"])
STAGING = dg.AssetKey(["staging", "stg_quality__check_results"])


def _instance_failures(instance: dg.DagsterInstance, home: Path) -> set[tuple[str, str]]:
    """Failed partitions of every partitioned futures check as the UI shows them (the check
    state the webserver reads)."""
    settings = settings_for(home)
    graph = build_definitions(settings).get_repository_def().asset_graph
    check_keys = [
        k
        for k in graph.asset_check_keys
        if k.asset_key in futures.ASSET_KEYS and graph.get_check_spec(k).partitions_def is not None
    ]
    partitions = futures_partitions(settings)
    states = instance.event_log_storage.get_asset_check_state([(k, partitions) for k in check_keys])
    failed = AssetCheckExecutionResolvedStatus.FAILED
    return {
        (f"{k.asset_key.to_user_string()}:{k.name}", p)
        for k, state in states.items()
        for p in state.subsets[failed].subset_value.get_partition_keys()
    }


def _collected_failures(home: Path) -> set[tuple[str, str]]:
    """Failed partitions among the latest evaluations in `quality.check_results`."""
    latest = (
        Lake(home / "lake")
        .read(CHECK_RESULTS)
        .sort("evaluated_at", "storage_id")
        .group_by("asset_key", "check_name", "partition_key")
        .last()
        .filter(~pl.col("passed"))
    )
    return {
        (f"{r[0]}:{r[1]}", r[2])
        for r in latest.select("asset_key", "check_name", "partition_key").iter_rows()
    }


def _failed_certifications(home: Path) -> set[tuple[str, str]]:
    """Each partition whose newest judgment failed, as a failed `certified` verdict."""
    from market_spine.client import Spine

    judged = Spine(home, warn_empty=False).readiness().filter(pl.col("state") == "failed")
    return {(f"{d}:certified", p) for d, p in judged.select("dataset", "partition").iter_rows()}


def _mart_failures(warehouse: WarehouseResource) -> set[tuple[str, str]]:
    with warehouse.reading() as conn:
        rows = conn.execute(
            "select check_key, partition_key from marts.mart_data_quality where not is_passed"
        ).fetchall()
    return set(rows)


def test_a_range_with_one_bad_partition_fails_that_partition_everywhere(
    home: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bad partition fails everywhere; then two collections that raced over the same
    evaluations leave one row per evaluation (one set of loads serves both)."""
    settings = settings_for(home)
    assert all(
        r.success for r in materialize_range(settings, ["CL"], FIRST, LAST, instance=instance)
    )
    # A later capture of the middle session lost a block of minutes.
    gappy = resources(settings, MarketDataResource(defects=["gaps"]))
    assert dg.materialize(
        [build_raw_bars(futures_partitions(settings))],
        partition_key=partition_key(BAD, "CL"),
        resources=gappy,
        instance=instance,
    ).success
    # One range run re-normalizes all three sessions from their newest captures.
    (rerun,) = materialize_range(
        settings,
        ["CL"],
        FIRST,
        LAST,
        instance=instance,
        selection=[keys.NORMALIZED_BARS, keys.DAILY_BARS],
    )
    assert rerun.failed_checks == ("normalized/futures_bars_1m:completeness [2024-03-05|CL]",)
    lake = {"lake": LakeResource(root=str(home / "lake"))}
    assert dg.materialize([check_results], instance=instance, resources=lake).success
    warehouse = WarehouseResource(home=str(home))
    built = dg.materialize(
        [warehouse_dbt],
        selection=[STAGING, MART],
        instance=instance,
        resources={**lake, "dbt": dbt_resource(), "warehouse": warehouse},
    )
    assert built.success

    assert _instance_failures(instance, home) == FAILED
    assert _collected_failures(home) == FAILED
    # The day built from the failed minutes fails with them, though none of its own checks
    # does: the mart lists it too, as every partition whose certification failed.
    failed_days = ("analytics/futures_bars_daily:certified", f"{BAD.isoformat()}|CL")
    assert failed_days in _failed_certifications(home)
    assert _mart_failures(warehouse) == FAILED | _failed_certifications(home)
    with warehouse.reading() as conn:
        (why,) = conn.execute(
            "select description from marts.mart_data_quality where check_key = ? "
            "and partition_key = ?",
            list(failed_days),
        ).fetchone()
    assert "input normalized/futures_bars_1m FAILED" in why, why

    # The second collection planned before the first one landed (it saw no table): it must
    # not add a second copy of the evaluations the first one wrote.
    assert dg.materialize([check_results], instance=instance, resources=lake).success
    first = Lake(home / "lake").read(CHECK_RESULTS).height
    assert first > 0
    real_read = Lake.read

    def unseen(self: Lake, dataset: str, *args, **kwargs) -> pl.DataFrame:
        rows = real_read(self, dataset, *args, **kwargs)
        return rows.clear() if dataset == CHECK_RESULTS else rows

    with monkeypatch.context() as m:
        m.setattr(Lake, "read", unseen)
        assert dg.materialize([check_results], instance=instance, resources=lake).success
    rows = Lake(home / "lake").read(CHECK_RESULTS)
    assert rows["evaluation_id"].n_unique() == rows.height
    assert rows.height >= first


def test_every_checked_market_asset_is_collected(tmp_path: Path) -> None:
    graph = build_definitions(settings_for(tmp_path)).get_repository_def().asset_graph
    checked = {k.asset_key for k in graph.asset_check_keys}
    dbt_models = {k for a in WAREHOUSE_DBT_ASSETS for k in a.keys}
    assert set(CHECKED_ASSETS) == {k for k in checked if k not in dbt_models}
    assert dg.AssetKey(["raw", "spx_options_quotes_1m"]) in CHECKED_ASSETS
    assert graph.get(check_results.key).parent_keys == set(CHECKED_ASSETS)
