"""Filling gaps as one Dagster backfill through a real instance: batches, failures carried past,
the backfill's bookkeeping, and a pause and resume that does not redo completed partitions."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.tags import BACKFILL_ID_TAG

from market_spine.errors import InvalidInput
from market_spine.futures import keys
from market_spine.futures.definitions import ASSET_KEYS
from market_spine.home import instance as home_instance
from market_spine.operations import gap_fill
from market_spine.operations.gap_fill import Owed, plan_batches
from market_spine.operations.gaps import FAILED, find_gaps
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import materialize_range
from market_spine_tests.kit.homes import settings_for

#: Every futures asset: the bars, the rolls and the continuous series.
FUTURES = ASSET_KEYS
N = len(FUTURES)
WEEK = [date(2024, 3, d) for d in (4, 5, 6, 7, 8)]
#: The assets a session's volume roll feeds: loading an earlier session rebuilds later ones.
ROLL_DEPENDENT = (keys.ROLLS, keys.CONTINUOUS_BARS, keys.CONTINUOUS_DAILY)


def _owed(days: list[date], symbol: str = "CL", assets=FUTURES) -> list[Owed]:
    return [Owed("futures", a, d, symbol) for a in assets for d in days]


def _materializations(
    inst: dg.DagsterInstance, key: dg.AssetKey, *, rebuilt_only: bool = False
) -> Counter[str]:
    """How often each partition of `key` was materialized; with `rebuilt_only`, as a later
    session rebuilt by an earlier one's load."""
    records = inst.fetch_materializations(key, limit=1000).records
    return Counter(
        r.partition_key
        for r in records
        if r.partition_key
        and (not rebuilt_only or "rebuilt_after" in r.asset_materialization.metadata)
    )


def test_batches_split_at_owed_sessions_present_and_at_the_batch_size() -> None:
    # Tuesday is held, so Monday and Wednesday..Friday are separate ranges; a batch of 2 then
    # splits Wednesday..Friday; normalized alone lacking on Friday makes its own run.
    owed = _owed([WEEK[0], *WEEK[2:4]]) + _owed([WEEK[4]], assets=(keys.NORMALIZED_BARS,))
    batches = plan_batches(owed, 2, FUTURES)
    assert [(b.days[0], b.days[-1], b.assets) for b in batches] == [
        (WEEK[4], WEEK[4], (keys.NORMALIZED_BARS,)),
        (WEEK[2], WEEK[3], FUTURES),
        (WEEK[0], WEEK[0], FUTURES),
    ]
    assert batches[1].partition_range == ("2024-03-06|CL", "2024-03-07|CL")


def test_batches_run_across_a_holiday_that_owes_nothing() -> None:
    wed, fri = date(2024, 11, 27), date(2024, 11, 29)  # Thanksgiving between: not a trade date
    [batch] = plan_batches(_owed([wed, fri]), 10, FUTURES)
    assert batch.days == (wed, fri)
    options = [
        Owed("options", dg.AssetKey(["raw", "spx_options_eod"]), d, None) for d in (wed, fri)
    ]
    [chain] = plan_batches(options, 10, FUTURES)
    assert chain.partition_range == ("2024-11-27", "2024-11-29")


def test_fill_continues_past_failures_and_reports_them(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    inst = home_instance(settings)
    broken = MarketDataResource(defects=["no-such-defect"])
    owed = _owed([WEEK[0]]) + _owed([WEEK[0]], symbol="ES")
    summary = gap_fill.fill(
        inst, settings, owed, batch=5, concurrency=1, market=broken, use_daemon=False
    )
    assert len(summary.runs) == 2  # the second run went ahead after the first failed
    assert summary.status == "COMPLETED_FAILED"
    assert (summary.filled, summary.failed, summary.skipped) == (0, 2 * N, 0)
    assert all("no-such-defect" in f for f in summary.failures)
    backfill = inst.get_backfill(summary.backfill_id)
    assert backfill is not None and backfill.status == BulkActionStatus.COMPLETED_FAILED
    runs = inst.get_runs(dg.RunsFilter(tags={BACKFILL_ID_TAG: summary.backfill_id}))
    assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.FAILURE for r in runs)
    report = find_gaps(inst, settings, WEEK[0], WEEK[0], domain="futures", symbols=["CL", "ES"])
    assert {g.status for g in report.gaps} == {FAILED} and len(report.gaps) == 2 * N


def test_pause_then_resume_keeps_completed_partitions(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    inst = home_instance(settings)
    backfills: list[str] = []

    def pause_after_first_run(batch: object, run_id: str, ok: bool, cause: str | None) -> None:
        assert ok, cause
        # The run has ended and no other is under way: the backfill is canceled at once.
        assert gap_fill.pause(inst, backfills[0]) is BulkActionStatus.CANCELED

    summary = gap_fill.fill(
        inst,
        settings,
        _owed(WEEK),
        batch=1,
        concurrency=1,
        use_daemon=False,
        on_submitted=lambda b, _: backfills.append(b.backfill_id),
        on_run=pause_after_first_run,
    )
    # Paused after the newest day's run: it alone is filled, the rest left for the resume.
    assert summary.status == "CANCELED" and len(summary.runs) == 1
    assert (summary.filled, summary.failed, summary.skipped) == (N, 0, 4 * N)
    paused = inst.get_backfill(backfills[0])
    assert paused is not None and paused.status == BulkActionStatus.CANCELED
    assert set(_materializations(inst, keys.RAW_BARS)) == {"2024-03-08|CL"}
    with pytest.raises(InvalidInput, match="not running"):
        gap_fill.pause(inst, backfills[0])

    resumed = gap_fill.resume(
        inst, settings, backfills[0], batch=2, concurrency=2, use_daemon=False
    )
    assert resumed is not None and resumed.status == "COMPLETED_SUCCESS"
    assert (resumed.filled, resumed.failed, resumed.skipped) == (4 * N, 0, 0)
    assert len(resumed.runs) == 2  # Monday..Tuesday and Wednesday..Thursday, two at a time
    backfill = inst.get_backfill(resumed.backfill_id)
    assert backfill is not None and backfill.tags[gap_fill.RESUMES] == backfills[0]
    for key in FUTURES:
        rebuilt = _materializations(inst, key, rebuilt_only=True)
        # Nothing redone: each session was materialized once by the run that loaded it.
        assert _materializations(inst, key) - rebuilt == Counter(f"{d}|CL" for d in WEEK), key
        if key in ROLL_DEPENDENT:
            # Loading Monday..Thursday after Friday changes Friday's volume roll, so the resume
            # rebuilt Friday's roll-dependent partitions and said why; Monday has no earlier
            # session in the backfill to be rebuilt after.
            assert "2024-03-08|CL" in rebuilt and "2024-03-04|CL" not in rebuilt, key
        else:
            assert not rebuilt, key
    assert not find_gaps(inst, settings, WEEK[0], WEEK[-1], domain="futures", symbols=["CL"]).gaps
    assert gap_fill.resume(inst, settings, resumed.backfill_id, batch=2, concurrency=1) is None


def test_the_backfill_records_its_progress_for_the_ui(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    inst = home_instance(settings)
    [held] = materialize_range(settings, ["CL"], WEEK[1], WEEK[1], instance=inst)
    assert held.success
    report = find_gaps(inst, settings, WEEK[0], WEEK[2], domain="futures", symbols=["CL"])
    owed = gap_fill.owed_from_gaps(report.gaps)
    summary = gap_fill.fill(inst, settings, owed, batch=10, concurrency=1, use_daemon=False)
    assert summary.status == "COMPLETED_SUCCESS" and len(summary.runs) == 2
    backfill = inst.get_backfill(summary.backfill_id)
    assert backfill is not None
    data = backfill.get_asset_backfill_data(gap_fill.asset_graph(inst))
    assert data.materialized_subset == data.target_subset
    assert data.failed_and_downstream_subset.num_partitions_and_non_partitioned_assets == 0
    assert data.target_subset.num_partitions_and_non_partitioned_assets == 2 * N
    # Tuesday was held before the fill: its partitions were not run again.
    assert _materializations(inst, keys.RAW_BARS)["2024-03-05|CL"] == 1


def test_a_live_daemon_executes_the_backfill_itself(tmp_path: Path) -> None:
    from dagster._daemon.types import DaemonHeartbeat

    settings = settings_for(tmp_path / "home")
    inst = home_instance(settings)
    assert not gap_fill.daemon_alive(inst)
    beat = DaemonHeartbeat(datetime.now(UTC).timestamp(), "BACKFILL", "test", None)
    inst.add_daemon_heartbeat(beat)
    assert gap_fill.daemon_alive(inst)
    graph = gap_fill.asset_graph(inst)
    backfill = gap_fill.submit(
        inst, _owed(WEEK[:2]), graph=graph, executed_here=False, title="by the daemon"
    )
    stored = inst.get_backfill(backfill.backfill_id)
    assert stored is not None and stored.status == BulkActionStatus.REQUESTED
    data = stored.get_asset_backfill_data(graph)
    # Left for the daemon to request; one this process executes is marked requested up front.
    assert not data.requested_runs_for_target_roots and data.requested_subset.is_empty
    assert data.target_subset.num_partitions_and_non_partitioned_assets == 2 * N
    assert not inst.get_runs()
