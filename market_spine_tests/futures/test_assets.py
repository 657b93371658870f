"""The futures assets through Dagster against a real Delta lake in a temporary home."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.lake import Lake
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import domain_assets, materialize_range, resources
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)


def run(home: Path, instance: dg.DagsterInstance, symbol: str = "CL", day: date = DAY, **market):
    return dg.materialize(
        domain_assets(settings_for(home), "futures"),
        partition_key=partition_key(day, symbol),
        resources=resources(settings_for(home), MarketDataResource(**market)),
        instance=instance,
        raise_on_error=False,
    )


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }


def metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_one_partition_materializes_every_asset_with_checks_passing(home, instance) -> None:
    result = run(home, instance)
    assert result.success
    assert all(checks_of(result).values()), checks_of(result)
    # The normalized bars also say they are certified; rolls 1, continuous minutes 3, daily 2.
    assert len(checks_of(result)) == 13
    lake = Lake(home / "lake")
    raw = lake.read(keys.table(keys.RAW_BARS))
    norm = lake.read(keys.table(keys.NORMALIZED_BARS))
    daily = lake.read(keys.table(keys.DAILY_BARS))
    # Outside the roll window the front and the next month are captured; only the front is
    # normalized.
    assert sorted(raw["contract"].unique()) == ["CLJ4", "CLK4"]
    assert norm["contract"].unique().to_list() == ["CLJ4"]
    assert raw.height == 2 * norm.height and norm.height > 1200
    assert norm["trade_date"].unique().to_list() == [DAY]
    assert norm["ts"].min().isoformat() == "2024-03-04T23:00:00+00:00"  # Sunday-style evening open
    assert raw["capture_id"].n_unique() == 2 and raw["payload_sha256"].str.len_chars()[0] == 64
    assert daily.height == 1 and daily["bar_count"][0] == norm.height
    assert daily["high"][0] == norm["high"].max() and daily["close"][0] == norm["close"][-1]
    meta = metadata(result, keys.NORMALIZED_BARS)
    assert meta["rows"] == norm.height and meta["expected_bars"] == 1380
    assert meta["present_bars"] == norm.height and meta["delta_version"] == 0
    assert metadata(result, keys.RAW_BARS)["capture_id"] == norm["capture_id"][0]


def test_rerun_is_idempotent_adds_a_version_and_keeps_the_past(home, instance) -> None:
    run(home, instance)
    lake = Lake(home / "lake")
    first = lake.read(keys.table(keys.NORMALIZED_BARS))
    run(home, instance)
    second = lake.read(keys.table(keys.NORMALIZED_BARS))
    assert lake.version(keys.table(keys.NORMALIZED_BARS)) == 1
    assert second.drop("capture_id").equals(first.drop("capture_id"))
    assert second["capture_id"][0] != first["capture_id"][0]
    assert lake.read(keys.table(keys.NORMALIZED_BARS), as_of=0).equals(first)
    # Raw is append-only: two runs of two captures each (the front and the next month).
    assert lake.read(keys.table(keys.RAW_BARS)).height == 4 * first.height


def test_a_range_runs_as_one_backfill_per_symbol(home, instance) -> None:
    runs = materialize_range(
        settings_for(home), ["CL", "ES"], date(2024, 3, 25), date(2024, 4, 2), instance=instance
    )
    assert [r.symbol for r in runs] == ["CL", "ES"] and all(r.success for r in runs)
    daily = Lake(home / "lake").read(keys.table(keys.DAILY_BARS))
    # 2024-03-29 is Good Friday: no session for either root, so no row.
    days = sorted(daily.filter(pl.col("symbol") == "ES")["trade_date"].to_list())
    assert date(2024, 3, 29) not in days and len(days) == 6


@pytest.mark.parametrize(
    ("defect", "failing"),
    [
        # The series holding the gappy contract miss the same minutes; lost minutes fail the
        # partition's certification.
        (
            "gaps",
            {
                "normalized/futures_bars_1m:completeness",
                "normalized/futures_bars_1m:certified",
                "normalized/futures_continuous_1m:completeness",
            },
        ),
        ("spikes", {"normalized/futures_bars_1m:anomalies"}),
        # The capture keeps the duplicates as sent; normalization keeps one row per minute.
        ("duplicates", {"raw/futures_bars_1m:capture_validity"}),
        # A blocking check that fails leaves the partition failed, not certified.
        (
            "crossed",
            {
                "raw/futures_bars_1m:capture_validity",
                "normalized/futures_bars_1m:validity",
                "normalized/futures_bars_1m:certified",
            },
        ),
    ],
)
def test_each_injected_defect_fails_its_check(home, instance, defect: str, failing: set) -> None:
    result = run(home, instance, defects=[defect])
    assert {k for k, ok in checks_of(result).items() if not ok} == failing


def test_a_blocking_validity_failure_stops_downstream(home, instance) -> None:
    result = run(home, instance, defects=["crossed"])
    assert not result.success
    assert keys.DAILY_BARS not in {e.asset_key for e in result.get_asset_materialization_events()}


def test_live_session_expects_bars_only_up_to_now(home, instance) -> None:
    result = run(home, instance, frozen_now="2024-03-05T15:30:00Z")
    assert checks_of(result)["normalized/futures_bars_1m:completeness"]
    norm = Lake(home / "lake").read(keys.table(keys.NORMALIZED_BARS))
    assert norm["ts"].max().isoformat() == "2024-03-05T15:29:00+00:00"
    meta = metadata(result, keys.NORMALIZED_BARS)
    assert meta["expected_bars"] == 16 * 60 + 30  # 23:00 → 15:30 UTC
