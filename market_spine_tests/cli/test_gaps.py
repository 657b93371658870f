"""`market-spine gaps` through the CLI on a real home: report, exports, a dry run that submits
nothing, a fill after which no gap is left, and pause/resume by backfill id."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.futures import keys
from market_spine.futures.definitions import ASSET_KEYS
from market_spine.home import instance as home_instance
from market_spine.operations import gap_fill
from market_spine.operations.gap_fill import Owed
from market_spine_tests.kit.homes import settings_for

runner = CliRunner()
#: Two CL sessions × every futures dataset (bars, rolls, continuous series).
OWED = 2 * len(ASSET_KEYS)
RANGE = ["--start", "2024-03-04", "--end", "2024-03-05", "--domain", "futures", "--symbols", "CL"]


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home / "dagster"))


def test_gaps_lists_and_exports_every_gap(env_home: Path, tmp_path: Path) -> None:
    shown = runner.invoke(app, ["gaps", *RANGE])
    assert shown.exit_code == 1, shown.output
    missing = f"{OWED} of {OWED} owed partitions missing ({OWED} never attempted, 0 failed)"
    assert missing in shown.output
    assert "estimated fill time: unknown" in shown.output

    exported = runner.invoke(app, ["gaps", *RANGE, "--export", "csv"])
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == OWED and rows[0]["trade_date"] == "2024-03-05"
    assert {r["dataset"] for r in rows} == {k.to_user_string() for k in ASSET_KEYS}

    target = tmp_path / "gaps.json"
    written = runner.invoke(app, ["gaps", *RANGE, "--export", "json", "--output", str(target)])
    assert written.exit_code == 1, written.output
    doc = json.loads(target.read_text())
    assert doc["never"] == OWED and len(doc["gaps"]) == OWED and doc["symbols"] == ["CL"]

    bad = runner.invoke(app, ["gaps", *RANGE, "--export", "xml"])
    assert bad.exit_code == 2 and "csv, json" in bad.output


def test_dry_run_prints_the_plan_and_submits_nothing(env_home: Path) -> None:
    result = runner.invoke(app, ["gaps", *RANGE, "--fill", "--dry-run", "--batch", "1"])
    assert result.exit_code == 1, result.output
    assert f"plan: one backfill, 2 runs, {OWED} asset partitions" in result.output
    assert "CL 2024-03-05..2024-03-05" in result.output
    assert "dry run: nothing submitted" in result.output
    inst = _instance(env_home)
    assert not inst.get_backfills() and not inst.get_runs()


def test_fill_leaves_no_gap(env_home: Path) -> None:
    filled = runner.invoke(app, ["gaps", *RANGE, "--fill"])
    assert filled.exit_code == 0, filled.output
    assert f"filled {OWED}, failed 0, skipped 0 asset partitions in 1 runs" in filled.output
    inst = _instance(env_home)
    [backfill] = inst.get_backfills()
    assert backfill.status.value == "COMPLETED_SUCCESS"
    assert inst.get_materialized_partitions(keys.DAILY_BARS) == {"2024-03-04|CL", "2024-03-05|CL"}

    again = runner.invoke(app, ["gaps", *RANGE])
    assert again.exit_code == 0, again.output
    assert f"0 of {OWED} owed partitions missing" in again.output
    nothing = runner.invoke(app, ["gaps", *RANGE, "--fill"])
    assert nothing.exit_code == 0 and "nothing to fill" in nothing.output
    assert len(inst.get_backfills()) == 1


def test_pause_and_resume_by_backfill_id(env_home: Path) -> None:
    settings = settings_for(env_home)
    inst = home_instance(settings)
    owed = [Owed("futures", k, date(2024, 3, 4), "CL") for k in gap_fill.lineage(settings)[:3]]
    graph = gap_fill.asset_graph(inst)
    backfill = gap_fill.submit(inst, owed, graph=graph, executed_here=True, title="to pause")
    backfill_id = backfill.backfill_id

    paused = runner.invoke(app, ["gaps", "--pause", backfill_id])
    assert paused.exit_code == 0, paused.output
    assert f"backfill {backfill_id} paused" in paused.output

    resumed = runner.invoke(app, ["gaps", "--resume", backfill_id])
    assert resumed.exit_code == 0, resumed.output
    assert "filled 3, failed 0, skipped 0" in resumed.output
    assert inst.get_materialized_partitions(keys.RAW_BARS) == {"2024-03-04|CL"}

    unknown = runner.invoke(app, ["gaps", "--pause", "nope"])
    assert unknown.exit_code == 2 and "no backfill 'nope'" in unknown.output
    done = runner.invoke(app, ["gaps", "--resume", backfill_id])
    assert done.exit_code == 0 and "nothing left to fill" in done.output


def test_symbols_name_the_domains_as_process_reads_them(env_home: Path) -> None:
    span = ["--start", "2024-03-04", "--end", "2024-03-05", "--export", "json"]
    futures = json.loads(runner.invoke(app, ["gaps", *span, "--symbols", "CL"]).stdout)
    options = json.loads(runner.invoke(app, ["gaps", *span, "--symbols", "SPX"]).stdout)
    assert futures["gaps"] and {g["domain"] for g in futures["gaps"]} == {"futures"}
    assert {g["symbol"] for g in futures["gaps"]} == {"CL"}
    assert options["gaps"] and {g["domain"] for g in options["gaps"]} == {"options"}
    refused = runner.invoke(app, ["gaps", *span, "--symbols", "SPX", "--domain", "futures"])
    assert refused.exit_code == 2 and "option roots have no futures runs" in refused.output


def test_a_fill_option_out_of_range_is_refused_before_any_work(env_home: Path) -> None:
    result = runner.invoke(app, ["gaps", *RANGE, "--fill", "--concurrency", "0"])
    assert result.exit_code == 2
    assert "--concurrency 0 and --batch 20 must each be at least 1" in result.output
    assert "gap" not in result.output.split("must")[0].lower()  # no report printed first


def test_an_output_file_without_an_export_is_refused_and_nothing_written(
    env_home: Path, tmp_path: Path
) -> None:
    target = tmp_path / "gaps.csv"
    result = runner.invoke(app, ["gaps", *RANGE, "--output", str(target)], terminal_width=400)
    assert result.exit_code == 2
    assert "writes an export: give --export csv or json" in result.output
    assert not target.exists()


def test_the_header_names_option_roots_too(env_home: Path) -> None:
    days = ["--start", "2024-03-04", "--end", "2024-03-05"]
    result = runner.invoke(app, ["gaps", *days, "--symbols", "CL,SPX"])
    assert "futures+options (CL,SPX,SPXW):" in result.output, result.output
    options = runner.invoke(app, ["gaps", *days, "--domain", "options"])
    assert "gaps 2024-03-04..2024-03-05 options (SPX,SPXW): " in options.output, options.output


def test_a_future_range_says_its_dates_are_in_the_future(env_home: Path) -> None:
    later, last = date.today() + timedelta(days=400), date.today() + timedelta(days=410)
    days = ["--start", str(later), "--end", str(last)]
    result = runner.invoke(app, ["gaps", *days, "--domain", "futures", "--symbols", "CL"])
    assert result.exit_code == 0, result.output
    assert "0 of 0 owed" in result.output
    assert f"{later}..{last} is in the future (today is" in result.output
