"""The embedded simulated market and the checks agree: a year of every domain raises no alarm,
judged partition by partition as the assets judge it, and a Dagster range run through the real
assets across a holiday week passes every check."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg

from market_spine.markets.expirations import closed_weekdays
from market_spine.operations.check_sweep import option_days, sweep_futures, sweep_options, weekdays
from market_spine.runs.launch import materialize_options, materialize_range
from market_spine_tests.kit.homes import settings_for

YEAR = (date(2023, 1, 1), date(2023, 12, 31))
#: Every this many trading days, a day of options (with the one before, for strike continuity).
OPTION_STRIDE = 60


def test_a_simulated_year_of_futures_raises_no_alarm() -> None:
    report = sweep_futures(("CL", "ES", "NG"), *YEAR)
    checks_per_partition = 1 + 3 + 2  # raw, normalized, daily
    assert report.evaluations == 3 * len(weekdays(*YEAR)) * checks_per_partition
    assert report.failures == []


def test_a_simulated_year_of_options_raises_no_alarm() -> None:
    """Options cost most to simulate: every sixtieth trading day and the day after each
    holiday, each with its previous trading day, quotes included."""
    days = option_days(*YEAR)
    after_holidays = {days.index(min(d for d in days if d > h)) for h in closed_weekdays(*YEAR)}
    picked = sorted(set(range(1, len(days), OPTION_STRIDE)) | after_holidays)
    report = None
    for i in picked:
        report = sweep_options([days[i - 1], days[i]], quote_days={days[i]}, report=report)
    assert report is not None
    assert report.evaluations == len(picked) * (2 * (2 + 3 + 3 + 1) + 2)
    assert report.failures == []


def test_a_range_run_across_thanksgiving_passes_every_check(
    home: Path, instance: dg.DagsterInstance
) -> None:
    settings = settings_for(home)
    start, end = date(2024, 11, 27), date(2024, 11, 29)  # the Friday closes early
    futures = materialize_range(settings, ["CL", "ES"], start, end, instance=instance)
    options = materialize_options(settings, start, end, instance=instance)
    assert options is not None
    for run in (*futures, options):
        assert run.success and run.failed_checks == (), run
    evaluations = [
        e
        for run in (*futures, options)
        for e in instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
    ]
    partitions = {
        e.event_log_entry.dagster_event.event_specific_data.partition for e in evaluations
    }
    assert "2024-11-28|CL" in partitions and "2024-11-28" not in partitions  # futures keep it
    assert all(e.event_log_entry.dagster_event.event_specific_data.passed for e in evaluations)
