"""The run history read from a home's Dagster instance: real CLI runs, filtered by time, status,
dataset and symbol, each with who launched it, its partitions, rows, rates, memory and cause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from market_spine.config.identity import os_user
from market_spine.errors import InvalidInput
from market_spine.operations.run_history import (
    PartitionSpan,
    find_runs,
    parse_since,
    parse_statuses,
    run_detail,
)
from market_spine.runs.launch import RunSummary
from market_spine_tests.kit.run_homes import DAY, ES_DAYS, open_instance, run_days, unreachable_ib


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, RunSummary]]:
    """A home with three runs: CL on DAY, ES over two days, and a CL run whose capture failed."""
    home = tmp_path_factory.mktemp("history") / "home"
    runs = {
        "cl": run_days(home, "CL", DAY),
        "es": run_days(home, "ES", *ES_DAYS),
        "failed": run_days(home, "CL", DAY, market=unreachable_ib()),
    }
    assert runs["cl"].success and runs["es"].success and not runs["failed"].success
    return home, runs


def test_every_run_says_who_ran_what_how_fast_and_why_it_failed(
    history: tuple[Path, dict[str, RunSummary]],
) -> None:
    home, runs = history
    rows = {r.run_id: r for r in find_runs(open_instance(home))}
    assert set(rows) == {s.run_id for s in runs.values()}
    es = rows[runs["es"].run_id]
    assert es.span == PartitionSpan("2024-03-05", "2024-03-06", "ES")
    assert "normalized/futures_bars_1m" in es.datasets
    assert (es.launched_by, es.launched_from) == (os_user(), "cli")
    assert es.status == "SUCCESS" and es.cause is None
    # Raw, normalized and daily rows of two sessions of 1-minute bars.
    assert es.rows is not None and es.rows > 2 * 2 * 1300
    assert es.duration_s is not None and es.duration_s > 0
    assert es.rows_per_s is not None and es.rows_per_s > 0
    assert es.peak_memory_mb is not None and es.peak_memory_mb > 50
    assert es.written_mb is not None and es.mb_per_s is not None

    failed = rows[runs["failed"].run_id]
    assert failed.status == "FAILURE"
    assert failed.cause is not None and "127.0.0.1:" in failed.cause
    assert failed.rows is None


def test_filters_by_status_symbol_dataset_and_time(
    history: tuple[Path, dict[str, RunSummary]],
) -> None:
    home, runs = history
    inst = open_instance(home)
    failed = find_runs(inst, statuses=parse_statuses("failed"))
    assert [r.run_id for r in failed] == [runs["failed"].run_id]
    ok = find_runs(inst, statuses=parse_statuses("success"))
    assert {r.run_id for r in ok} == {runs["cl"].run_id, runs["es"].run_id}
    assert [r.run_id for r in find_runs(inst, symbol="es")] == [runs["es"].run_id]
    assert len(find_runs(inst, dataset="raw/futures_bars_1m")) == 3
    assert len(find_runs(inst, dataset="futures_bars_daily")) == 3  # the name alone also matches
    assert find_runs(inst, dataset="analytics/options_greeks_eod") == []
    assert find_runs(inst, since=datetime.now(UTC) + timedelta(minutes=1)) == []
    newest = find_runs(inst, limit=1)
    assert [r.run_id for r in newest] == [runs["failed"].run_id]


def test_run_detail_by_prefix_has_tags_and_cause(
    history: tuple[Path, dict[str, RunSummary]],
) -> None:
    home, runs = history
    detail = run_detail(open_instance(home), runs["failed"].run_id[:8])
    assert detail.row.run_id == runs["failed"].run_id
    assert detail.tags["market_spine/provider"] == "ib"
    assert "127.0.0.1:" in (detail.row.cause or "")
    with pytest.raises(InvalidInput, match="no run has the id"):
        run_detail(open_instance(home), "zzzzzzzz")


def test_since_and_status_parse_what_operators_type() -> None:
    now = datetime(2024, 3, 5, 12, tzinfo=UTC)
    assert parse_since("1d", now) == now - timedelta(days=1)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2024-03-01", now) == datetime(2024, 3, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="neither an age"):
        parse_since("yesterday", now)
    with pytest.raises(InvalidInput, match="is not one of"):
        parse_statuses("broken")


def test_partition_spans_overlap_by_symbol_and_dates() -> None:
    cl = PartitionSpan.of_key("2024-03-04|CL", "2024-03-08|CL")
    assert cl.overlaps(PartitionSpan.of_key("2024-03-08|CL"))
    assert not cl.overlaps(PartitionSpan.of_key("2024-03-06|ES"))
    assert not cl.overlaps(PartitionSpan.of_key("2024-03-09|CL"))
    assert PartitionSpan.of_key("2024-03-05").overlaps(cl)  # a date-only key covers all roots


def test_a_range_over_several_symbols_covers_each_and_says_so() -> None:
    """`process --date D` over CL, ES and NG is one range run from D|CL to D|NG: ES, between
    its ends, is in it too, and its label names both ends."""
    day = PartitionSpan.of_key("2024-03-12|CL", "2024-03-12|NG")
    assert day.label == "2024-03-12 CL..NG"
    assert day.overlaps(PartitionSpan.of_key("2024-03-12|ES"))
    assert not day.overlaps(PartitionSpan.of_key("2024-03-13|ES"))
    days = PartitionSpan.of_key("2024-03-11|CL", "2024-03-12|NG")
    assert days.label == "2024-03-11 CL..2024-03-12 NG"
