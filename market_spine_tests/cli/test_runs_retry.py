"""`market-spine runs` and `retry` through the CLI, on a home's own instance: JSON and tables,
dry runs that launch nothing, the attempt limit and --force."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._daemon.types import DaemonHeartbeat
from rich.console import Console
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.cli.runs import WIDE_TABLE, _table
from market_spine.operations.run_history import find_runs, run_detail
from market_spine.runs.deployment import mark_stopped
from market_spine.runs.launch import RunSummary, execute
from market_spine_tests.kit.home_copies import copy_home
from market_spine_tests.kit.run_homes import DAY, open_instance, run_days, unreachable_ib

runner = CliRunner()


@pytest.fixture(scope="module")
def es_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    """A home holding one successful ES run of DAY, and that run; tests copy it."""
    home = tmp_path_factory.mktemp("runs-es") / "home"
    return home, run_days(home, "ES", DAY)


@pytest.fixture(scope="module")
def failed_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    """A home holding one CL run of DAY failed on an unreachable IB Gateway, and that run;
    tests copy it."""
    home = tmp_path_factory.mktemp("runs-failed") / "home"
    return home, run_days(home, "CL", DAY, market=unreachable_ib())


def test_runs_lists_and_shows_a_failed_run_with_its_cause(
    es_home: tuple[Path, RunSummary], env_home: Path
) -> None:
    copy_home(es_home[0], env_home)
    ok = es_home[1]
    failed = run_days(env_home, "CL", DAY, market=unreachable_ib())
    listed = runner.invoke(app, ["runs", "--json", "--status", "failure"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert row["run_id"] == failed.run_id and row["partitions"] == f"{DAY} CL"
    assert "127.0.0.1:" in row["cause"]
    table = runner.invoke(app, ["runs", "--symbol", "ES"], terminal_width=240)
    assert table.exit_code == 0, table.output
    assert ok.run_id[:8] in table.output and failed.run_id[:8] not in table.output
    shown = runner.invoke(app, ["runs", "show", failed.run_id[:8]], terminal_width=240)
    assert shown.exit_code == 0, shown.output
    assert "cause:" in shown.output and "market_spine/provider = ib" in shown.output
    bad = runner.invoke(app, ["runs", "--since", "last tuesday"])
    assert bad.exit_code == 2 and "neither an age" in bad.output


def test_retry_dry_run_launches_nothing_and_attempts_stop_unless_forced(
    failed_home: tuple[Path, RunSummary], env_home: Path
) -> None:
    copy_home(failed_home[0], env_home)
    failed = failed_home[1]
    count = len(open_instance(env_home).get_run_ids())

    dry = runner.invoke(app, ["retry", "--failed", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    [planned] = json.loads(dry.stdout)
    assert planned["run_id"] == failed.run_id and planned["verdict"] == "retry"
    assert len(open_instance(env_home).get_run_ids()) == count

    # The gateway is still down: each retry fails again, until the two attempts are spent.
    for attempt in (1, 2):
        again = runner.invoke(app, ["retry", failed.run_id[:8], "--json"])
        assert again.exit_code == 1, again.output
        [outcome] = json.loads(again.stdout)
        assert outcome["verdict"] == "retry" and outcome["success"] is False
        assert outcome["attempts"] == attempt - 1
    spent = runner.invoke(app, ["retry", failed.run_id, "--json"])
    assert spent.exit_code == 1
    [refused] = json.loads(spent.stdout)
    assert refused["verdict"] == "exhausted" and "--force" in refused["reason"]
    assert len(open_instance(env_home).get_run_ids()) == count + 2

    forced = runner.invoke(app, ["retry", failed.run_id, "--force", "--json"])
    [outcome] = json.loads(forced.stdout)
    assert outcome["verdict"] == "retry" and outcome["attempts"] == 2
    child = open_instance(env_home).get_run_by_id(outcome["retry_run_id"])
    assert child is not None and child.root_run_id == failed.run_id
    assert child.tags["dagster/retry_number"] == "3"


def test_retry_needs_a_run_or_failed(env_home: Path) -> None:
    result = runner.invoke(app, ["retry"])
    assert result.exit_code == 2 and "give a RUN id or --failed" in result.output


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_the_runs_table_keeps_the_cause_whole_on_any_terminal(
    failed_home: tuple[Path, RunSummary], env_home: Path, columns: int
) -> None:
    copy_home(failed_home[0], env_home)
    failed = failed_home[1]
    cause = run_detail(open_instance(env_home), failed.run_id).row.cause or ""
    assert cause
    screen = Console(file=io.StringIO(), width=columns, color_system=None)
    _table(find_runs(open_instance(env_home)), screen)
    shown = screen.file.getvalue()
    lines = shown.splitlines()
    assert all(len(line) <= columns for line in lines), shown
    # Folded over lines, the cause reads whole once the table's borders are taken out.
    text = "".join(
        (line.split("│")[-2] if "│" in line else line.replace("cause:", "")).strip()
        for line in lines
    )
    assert "".join(cause.split()) in "".join(text.split()), shown
    assert ("peak MB" in shown) == (columns >= WIDE_TABLE)


def test_runs_refuses_an_unknown_dataset_or_symbol_naming_the_known(
    es_home: tuple[Path, RunSummary], env_home: Path
) -> None:
    copy_home(es_home[0], env_home)
    dataset = runner.invoke(app, ["runs", "--dataset", "unknown"], terminal_width=400)
    assert dataset.exit_code == 2, dataset.output
    assert "--dataset 'unknown' is not a dataset of the catalog" in dataset.output
    assert "normalized/futures_bars_1m" in dataset.output
    symbol = runner.invoke(app, ["runs", "--symbol", "XX"], terminal_width=400)
    assert symbol.exit_code == 2, symbol.output
    assert "futures roots CL, ES, NG; option roots SPX, SPXW" in symbol.output
    for good in (["--dataset", "futures_bars_1m"], ["--dataset", "raw/futures_bars_1m"]):
        listed = runner.invoke(app, ["runs", "--json", *good, "--symbol", "es"])
        assert listed.exit_code == 0, listed.output
        assert len(json.loads(listed.stdout)) == 1


def test_an_option_root_names_the_option_chain_runs() -> None:
    import dagster as dg
    from dagster._core.utils import make_new_run_id

    with dg.instance_for_test() as instance:
        made = {}
        for name, asset, tags in (
            ("options", "raw/spx_options_eod", {"dagster/partition": "2024-03-05"}),
            ("futures", "raw/futures_bars_1m", {"dagster/partition": "2024-03-05|CL"}),
            (
                "warehouse",
                "marts/fct_option_eod",
                {
                    "dagster/asset_partition_range_start": "2024-03-04",
                    "dagster/asset_partition_range_end": "2024-03-05",
                },
            ),
        ):
            run = dg.DagsterRun(
                job_name="__ASSET_JOB",
                run_id=make_new_run_id(),
                asset_selection=frozenset({dg.AssetKey.from_user_string(asset)}),
                tags=tags,
            )
            instance.run_storage.add_run(run)
            made[name] = run.run_id
        assert [r.run_id for r in find_runs(instance, symbol="SPX")] == [made["options"]]
        assert [r.run_id for r in find_runs(instance, symbol="CL")] == [made["futures"]]


def test_a_narrow_terminal_labels_each_run_s_times_and_trade_dates(
    es_home: tuple[Path, RunSummary], env_home: Path
) -> None:
    copy_home(es_home[0], env_home)
    ok = es_home[1]
    screen = Console(file=io.StringIO(), width=100, color_system=None)
    _table(find_runs(open_instance(env_home)), screen)
    lines = screen.file.getvalue().splitlines()
    [heading] = [line for line in lines if line.startswith(ok.run_id[:8])]
    assert heading.startswith(f"{ok.run_id[:8]} success, created ") and " UTC by " in heading
    assert ", ran " in heading
    assert f"  trade date: {DAY} ES" in lines


def test_runs_refuses_a_limit_below_one(env_home: Path) -> None:
    for bad in ("0", "-3"):
        result = runner.invoke(app, ["runs", "--limit", bad], terminal_width=400)
        assert result.exit_code == 2
        said = " ".join(result.output.replace("│", " ").split())
        assert "Invalid value for '--limit'" in said


def _play_the_queue_daemon(home: Path, stop: threading.Event) -> None:
    """What the queue daemon does with a queued run, in a thread: take it off the queue and
    execute it (`execute` starts a QUEUED run as the daemon's launch would)."""
    instance = open_instance(home)
    while not stop.is_set():
        for record in instance.get_run_records(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])
        ):
            execute(instance, record.dagster_run)
        stop.wait(0.2)


def test_a_retry_joins_the_deployments_queue_while_its_daemon_runs(
    failed_home: tuple[Path, RunSummary], env_home: Path
) -> None:
    copy_home(failed_home[0], env_home)
    failed = failed_home[1]
    instance = open_instance(env_home)
    # Not one the daemon retries itself (it would be refused as "daemon retry").
    instance.add_run_tags(failed.run_id, {"dagster/will_retry": "false"})
    beat = DaemonHeartbeat(time.time(), "QUEUED_RUN_COORDINATOR", "test", errors=[])
    instance.add_daemon_heartbeat(beat)
    stop = threading.Event()
    daemon = threading.Thread(target=_play_the_queue_daemon, args=(env_home, stop), daemon=True)
    daemon.start()
    try:
        queued = runner.invoke(app, ["retry", failed.run_id[:8], "--json"])
    finally:
        stop.set()
        daemon.join(timeout=60)
    [outcome] = json.loads(queued.stdout)
    assert outcome["success"] is False, queued.output  # the gateway is still down
    # Submitted to the run coordinator, as the daemon's own retries are: queued, then tagged
    # by the coordinator on submission.
    enqueued = instance.all_logs(outcome["retry_run_id"], of_type=dg.DagsterEventType.RUN_ENQUEUED)
    assert enqueued, "the retry did not go through the run queue"

    # Stopped cleanly: the beat is older than the stop, so the retry executes here.
    mark_stopped(env_home / "dagster")
    here = runner.invoke(app, ["retry", failed.run_id[:8], "--json"])
    [outcome] = json.loads(here.stdout)
    assert "retry_run_id" in outcome, here.output
    assert not instance.all_logs(outcome["retry_run_id"], of_type=dg.DagsterEventType.RUN_ENQUEUED)
