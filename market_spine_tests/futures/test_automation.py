"""Automation that keeps futures fresh: the hourly capture schedule and the freshness check."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg

from market_spine.futures import definitions as futures
from market_spine.futures.automation import due_partitions
from market_spine.operations import definitions as operations
from market_spine.operations.freshness import FRESHNESS_CHECK_KEY, run_partitions
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import resources
from market_spine.settings import Settings
from market_spine_tests.kit.homes import load_at, settings_for


def test_mid_session_every_symbol_is_live() -> None:
    now = datetime(2024, 3, 5, 15, 5, tzinfo=UTC)
    assert due_partitions(["CL", "ES", "NG"], now) == [
        ("CL", "2024-03-05", "live"),
        ("ES", "2024-03-05", "live"),
        ("NG", "2024-03-05", "live"),
    ]


def test_after_the_close_the_session_gets_its_final_capture_once() -> None:
    # CME closes at 17:00 ET = 21:00 UTC (EST in March before the switch on the 10th: 22:00 UTC).
    after = datetime(2024, 3, 5, 22, 5, tzinfo=UTC)
    assert due_partitions(["CL"], after) == [("CL", "2024-03-05", "final")]
    next_hour = datetime(2024, 3, 5, 23, 5, tzinfo=UTC)
    assert due_partitions(["CL"], next_hour) == [("CL", "2024-03-06", "live")]


def test_weekend_has_nothing_due_until_sunday_evening() -> None:
    assert due_partitions(["ES"], datetime(2024, 3, 9, 15, 5, tzinfo=UTC)) == []
    assert due_partitions(["ES"], datetime(2024, 3, 10, 22, 5, tzinfo=UTC)) == [
        ("ES", "2024-03-11", "live")
    ]


def _hourly_capture(settings: Settings) -> list[dg.RunRequest]:
    """The home's capture schedule, as its definitions declare it, ticked mid-session."""
    (schedule,) = futures.build_definitions(settings).schedules or []
    assert isinstance(schedule, dg.ScheduleDefinition)
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2024, 3, 5, 15, 5, tzinfo=UTC)
    )
    return list(schedule(context))


def test_schedule_requests_one_run_per_due_partition(tmp_path: Path) -> None:
    requests = _hourly_capture(settings_for(tmp_path))
    assert sorted(r.partition_key for r in requests) == [
        "2024-03-05|CL",
        "2024-03-05|ES",
        "2024-03-05|NG",
    ]
    assert len({r.run_key for r in requests}) == 3


def test_schedule_captures_only_the_symbols_of_the_settings(tmp_path: Path) -> None:
    requests = _hourly_capture(replace(settings_for(tmp_path), symbols=("ES",)))
    assert [r.partition_key for r in requests] == ["2024-03-05|ES"]


def _freshness(home: Path, now: str, symbols: tuple[str, ...] = ()) -> dg.AssetCheckResult:
    """The home's freshness check, as its definitions declare it, evaluated at `now`."""
    settings = settings_for(home)
    settings = replace(settings, symbols=symbols or settings.symbols)
    checks = operations.build_definitions(settings).asset_checks or []
    [check] = [c for c in checks if FRESHNESS_CHECK_KEY in c.check_keys]
    res = resources(settings, MarketDataResource(frozen_now=now))
    return check(dg.build_asset_check_context(), lake=res["lake"], market=res["market"])


def test_freshness_passes_when_the_newest_bar_is_recent_and_fails_an_hour_later(
    home, instance
) -> None:
    now = "2024-03-05T15:30:00Z"
    load_at(home, instance, now, date(2024, 3, 5), date(2024, 3, 5))
    assert _freshness(home, now).passed
    stale = _freshness(home, "2024-03-05T16:45:00Z")
    assert not stale.passed
    assert stale.metadata["stale_symbols"].value == "CL, ES, NG"


def test_freshness_fails_when_a_session_has_no_data(home) -> None:
    result = _freshness(home, "2024-03-05T15:30:00Z")
    assert not result.passed
    assert result.metadata["stale_symbols"].value == "CL, ES, NG"
    only_ng = _freshness(home, "2024-03-05T15:30:00Z", symbols=("NG",))
    assert only_ng.metadata["stale_symbols"].value == "NG"


def _load_cl(home, instance, now: str) -> None:
    """Load CL for 2024-03-04..05 in one range run with the market's clock frozen at `now`."""
    [run] = load_at(home, instance, now, date(2024, 3, 4), date(2024, 3, 5), ["CL"])
    assert not run.failed_checks, run


def test_a_live_range_run_of_one_symbol_judges_only_that_symbol(home, instance) -> None:
    now = "2024-03-05T15:30:00Z"
    _load_cl(home, instance, now)
    assert _freshness(home, now).metadata["stale_symbols"].value == "ES, NG"


def test_run_partitions_come_from_the_partition_tags() -> None:
    assert run_partitions({}) is None
    assert run_partitions({"dagster/partition": "2024-03-05|ES"}) == {
        "ES": (date(2024, 3, 5), date(2024, 3, 5))
    }
    assert run_partitions(
        {
            "dagster/asset_partition_range_start": "2024-03-04|CL",
            "dagster/asset_partition_range_end": "2024-03-05|CL",
        }
    ) == {"CL": (date(2024, 3, 4), date(2024, 3, 5))}


def test_a_backfill_run_during_a_live_session_does_not_judge_that_session(home, instance) -> None:
    _load_cl(home, instance, "2024-03-07T15:30:00Z")
