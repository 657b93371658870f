"""What `up` shows while it serves: a service's errors in full and one line per run; the run
events, dbt's output and routine warnings go to the home's service log only."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.utils import make_new_run_id

from market_spine.cli.run_watch import RunWatch
from market_spine.cli.service_log import ConsoleFilter, pump
from market_spine_tests.kit.homes import DATA

#: The services' output as `dagster dev` printed it while the UI launched a run, the automation
#: sensor built the warehouse and the deployment stopped (colour codes and all). Each line starts
#: with `!` when the console must show it, with a space when only the service log keeps it.
OUTPUT = (DATA / "dagster_dev_output.txt").read_text()


def _lines() -> list[tuple[bool, str]]:
    return [(raw[0] == "!", raw[1:]) for raw in OUTPUT.splitlines()]


def test_the_console_shows_service_errors_in_full_and_nothing_else() -> None:
    console_filter = ConsoleFilter()
    shown = [line for _, line in _lines() if console_filter.shows(line)]
    assert shown == [line for marked, line in _lines() if marked]


def test_the_service_log_keeps_every_line(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "dagster.log"
    text = "\n".join(line for _, line in _lines()) + "\n"
    echoed: list[str] = []
    pump(io.BytesIO(text.encode()), log, echoed.append).join(timeout=10)
    assert log.read_text() == text
    assert echoed == [line for marked, line in _lines() if marked]


def _run(instance: dg.DagsterInstance, **tags: str) -> dg.DagsterRun:
    run = dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id=make_new_run_id(),
        status=dg.DagsterRunStatus.NOT_STARTED,
        asset_selection=frozenset({dg.AssetKey(["normalized", "futures_bars_1m"])}),
        tags={"market_spine/launched_from": "ui", **tags},
    )
    instance.run_storage.add_run(run)
    return run


def test_each_run_is_one_line_when_it_starts_and_when_it_ends() -> None:
    with dg.instance_for_test() as instance:
        watch = RunWatch(instance, datetime.now(UTC) - timedelta(seconds=1))
        span = {
            "dagster/asset_partition_range_start": "2024-03-04|CL",
            "dagster/asset_partition_range_end": "2024-03-08|CL",
        }
        ok, broken = _run(instance, **span), _run(instance)
        assert watch.changes() == []  # created, not started: nothing to say yet
        for run in (ok, broken):
            instance.handle_new_event(_event(run, dg.DagsterEventType.RUN_START))
        started = watch.changes()
        assert started == [
            f"run {ok.run_id[:8]} futures_bars_1m 2024-03-04..2024-03-08 CL (ui): started",
            f"run {broken.run_id[:8]} futures_bars_1m (ui): started",
        ]
        assert watch.changes() == []  # said once
        instance.handle_new_event(_event(ok, dg.DagsterEventType.RUN_SUCCESS))
        instance.report_run_failed(broken, "the provider is down")
        ended = watch.changes()
        assert len(ended) == 2
        assert ended[0].startswith(f"run {ok.run_id[:8]} futures_bars_1m 2024-03-04..2024-03-08")
        assert "succeeded" in ended[0]
        assert f"run {broken.run_id[:8]}" in ended[1] and "failed" in ended[1]
        assert f"`market-spine runs show {broken.run_id[:8]}`" in ended[1]


def _event(run: dg.DagsterRun, kind: dg.DagsterEventType) -> dg.EventLogEntry:
    from dagster._core.events import DagsterEvent

    return dg.EventLogEntry(
        error_info=None,
        level="DEBUG",
        user_message="",
        run_id=run.run_id,
        timestamp=datetime.now(UTC).timestamp(),
        dagster_event=DagsterEvent(event_type_value=kind.value, job_name=run.job_name),
    )
