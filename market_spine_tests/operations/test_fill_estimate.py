"""The fill estimate counts what a run costs beyond its steps: a run measured from its launch
to its end (queue and launch included), fitted per run and per trade date, laid out on the
fill's concurrency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.utils import make_new_run_id

from market_spine.home import instance as home_instance
from market_spine.operations.fill_estimate import RunTimes, estimate, fit
from market_spine.operations.gaps import find_gaps
from market_spine_tests.kit.homes import settings_for

FUTURES = ("raw/futures_bars_1m", "normalized/futures_bars_1m", "analytics/futures_bars_daily")


def _finished_run(instance: dg.DagsterInstance, partition: str, queued_s: float, steps_s: float):
    """A successful futures run over `partition` that waited `queued_s` seconds from its launch
    to its start (the run queue, the launch of its process) and then ran `steps_s`."""
    run = dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id=make_new_run_id(),
        asset_selection=frozenset(dg.AssetKey.from_user_string(k) for k in FUTURES),
        tags={"dagster/partition": partition},
    )
    instance.run_storage.add_run(run)
    _succeeded(instance, run, queued_s, queued_s + steps_s)


def _succeeded(instance: dg.DagsterInstance, run: dg.DagsterRun, start_s: float, end_s: float):
    """Record that `run` started `start_s` and succeeded `end_s` seconds after its launch."""
    record = instance.get_run_record_by_id(run.run_id)
    assert record is not None
    launched = record.create_timestamp
    for kind, at in (
        (dg.DagsterEventType.RUN_START, launched + timedelta(seconds=start_s)),
        (dg.DagsterEventType.RUN_SUCCESS, launched + timedelta(seconds=end_s)),
    ):
        instance.handle_new_event(
            dg.EventLogEntry(
                error_info=None,
                level="DEBUG",
                user_message="",
                run_id=run.run_id,
                timestamp=at.timestamp(),
                dagster_event=DagsterEvent(event_type_value=kind.value, job_name=run.job_name),
            )
        )


def test_a_fill_of_one_day_costs_the_queue_and_launch_its_runs_took(tmp_path: Path) -> None:
    """Runs that queued 80 s and ran 1 s: filling one missing day takes about 81 s, not 1 s."""
    settings = settings_for(tmp_path / "home")
    with dg.instance_for_test() as instance:
        for day in ("2024-03-04", "2024-03-05", "2024-03-06"):
            _finished_run(instance, f"{day}|ES", queued_s=80, steps_s=1)
        report = find_gaps(
            instance,
            settings,
            date(2024, 3, 7),
            date(2024, 3, 7),
            domain="futures",
            symbols=["ES"],
        )
    fill = report.estimate()
    assert fill.runs == 1
    assert fill.seconds == pytest.approx(81, abs=1)
    times = report.run_times["futures"]
    assert times.per_run_s == pytest.approx(80, abs=1) and times.per_day_s == pytest.approx(1)
    assert "the last 3 runs, launch to end" in fill.basis()
    assert report.as_dict()["estimate_seconds"] == pytest.approx(fill.seconds)


def test_runs_of_several_sizes_are_fitted_per_run_and_per_trade_date() -> None:
    times = fit("futures", [(1, 25.0, 3.0), (5, 33.0, 11.0), (10, 43.0, 21.0), (2, 27.0, 5.0)])
    assert times.per_run_s == pytest.approx(23.0) and times.per_day_s == pytest.approx(2.0)
    # Sizes that say nothing of a trade date's cost: each run split into launch and steps.
    flat = fit("futures", [(1, 20.0, 2.0), (2, 19.0, 4.0), (1, 21.0, 2.0)])
    assert flat.per_day_s == pytest.approx(2.0) and flat.per_run_s == pytest.approx(52 / 3)
    assert fit("futures", []).seconds(3) is None


@dataclass(frozen=True)
class _Run:
    domain: str
    days: tuple[date, ...]


def test_planned_runs_are_laid_out_on_the_concurrency() -> None:
    day = date(2024, 3, 4)
    times = {"futures": RunTimes("futures", 4, 20.0, 2.0), "options": RunTimes("options", 0)}
    runs = [_Run("futures", (day,) * n) for n in (5, 1, 1, 1)]  # 30, 22, 22, 22 s
    assert estimate(runs, times, 1).seconds == pytest.approx(96)
    assert estimate(runs, times, 2).seconds == pytest.approx(52)  # 30+22 | 22+22
    assert estimate(runs, times, 4).seconds == pytest.approx(30)
    unmeasured = estimate([*runs, _Run("options", (day,))], times, 2)
    assert unmeasured.seconds is None and "options: no successful run" in unmeasured.basis()


def _hourly_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus, wall_s: float = 0):
    """A run of the hourly capture job: finished in `wall_s` seconds from its launch when it
    succeeded, else as `status` says (queued, started)."""
    job = "futures_hourly_capture"
    origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("market_spine"), "__repository__"), job
    )
    run = dg.DagsterRun(job_name=job, run_id=make_new_run_id(), remote_job_origin=origin)
    instance.run_storage.add_run(run)
    if status == dg.DagsterRunStatus.QUEUED:
        enqueued = DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_ENQUEUED.value, job_name=run.job_name
        )
        instance.report_dagster_event(enqueued, run_id=run.run_id)
        return
    _succeeded(instance, run, 1, wall_s)


def test_a_fill_the_daemon_executes_waits_behind_the_queue_at_its_limit(tmp_path: Path) -> None:
    """Fill runs take 9 s; four hourly captures of 60 s each are queued on a queue of two runs
    at once: the fill's one run starts after two rounds of them, about 129 s, not 9 s."""
    settings = settings_for(tmp_path / "home")
    with home_instance(settings) as instance:  # the home's dagster.yaml: 2 runs at once
        for day in ("2024-03-04", "2024-03-05", "2024-03-06"):
            _finished_run(instance, f"{day}|ES", queued_s=8, steps_s=1)
        for _ in range(3):
            _hourly_run(instance, dg.DagsterRunStatus.SUCCESS, wall_s=60)
        for _ in range(4):
            _hourly_run(instance, dg.DagsterRunStatus.QUEUED)
        args = (instance, settings, date(2024, 3, 7), date(2024, 3, 7))
        here = find_gaps(*args, domain="futures", symbols=["ES"], daemon=False, concurrency=4)
        queued = find_gaps(*args, domain="futures", symbols=["ES"], daemon=True, concurrency=4)
    assert here.estimate().seconds == pytest.approx(9, abs=1)
    assert "executed here" in here.estimate().basis()
    fill = queued.estimate()
    assert fill.seconds == pytest.approx(129, abs=2)
    assert fill.concurrency == 2  # the queue's limit, not --concurrency 4
    basis = fill.basis()
    assert "2 runs at once (concurrency.runs.max_concurrent_runs, not --concurrency)" in basis
    assert "behind 0 running and 4 queued (about 240 s of their work)" in basis
    assert queued.as_dict()["estimate"]["queue"]["queued"] == 4
