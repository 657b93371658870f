"""`market-spine import bars` on vendor CSV dialects: each imports with the option that names it,
ends with what it skipped and why, and a wrong guess exits 2 with the fix and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.audit.export import AuditFilter, entries_as_dicts
from market_spine.audit.recorder import flush_all
from market_spine.audit.store import AuditStore
from market_spine.cli import app
from market_spine.cli.importing import EXIT_FAILED_CHECKS
from market_spine.lake import Lake
from market_spine_tests.kit.homes import DATA

DIALECTS = DATA / "dialects"
NORMALIZED = "normalized/futures_bars_1m"
DAILY = "analytics/futures_bars_daily"
runner = CliRunner()
#: Three bars of a 1,380-minute session: written, but their completeness check leaves the
#: partition FAILED, which the import's exit code says.
THREE_BARS_FAIL = EXIT_FAILED_CHECKS


def _import(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["import", "bars", *args, "--symbol", "ES"])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("name", "options", "blank_lines"),
    [
        ("es_3bars_trailing_blank.csv", [], [5]),
        ("es_3bars_bom_crlf_quoted.csv", [], [3, 6]),
        ("es_3bars_semicolon_decimal_comma.csv", ["--separator", ";", "--decimal", ","], [3, 5, 7]),
        ("es_3bars_tab.txt", ["--separator", "tab"], [3, 5]),
    ],
)
def test_each_dialect_imports_three_bars(
    env_home: Path, name: str, options: list[str], blank_lines: list[int]
) -> None:
    code, output = _import(str(DIALECTS / name), *options, "--json")
    assert code == THREE_BARS_FAIL, output
    report = json.loads(output)
    assert report["rows"] == 3 and report["days"][0]["rows"] == 3
    (skip,) = report["skips"]
    assert skip["rows"] == len(blank_lines) and skip["first"] == blank_lines
    normalized = Lake(env_home / "lake").read(NORMALIZED)
    assert normalized.height == 3 and normalized["close"].to_list() == [5152.0, 5152.5, 5152.75]


def test_report_ends_with_what_was_skipped(env_home: Path) -> None:
    code, output = _import(str(DIALECTS / "es_3bars_trailing_blank.csv"))
    assert code == THREE_BARS_FAIL, output
    assert output.endswith(
        "skipped 1 line(s) with no values (blank, whitespace or separators only): not bars (line 5)"
    )
    code, output = _import(str(DIALECTS / "es_3bars_no_blank.csv"))
    assert code == THREE_BARS_FAIL, output
    assert output.endswith("skipped nothing: every row of the file is imported")


def test_an_import_is_audited_with_its_file_and_runs(env_home: Path) -> None:
    path = DIALECTS / "es_3bars_no_blank.csv"
    code, output = _import(str(path), "--json")
    assert code == THREE_BARS_FAIL, output
    report = json.loads(output)
    flush_all()
    store = AuditStore(env_home, create=False)
    [entry] = entries_as_dicts(store, AuditFilter(action="import.bars"), 10)
    launched = entries_as_dicts(store, AuditFilter(action="run.launch"), 10)
    store.close()
    assert (entry["dataset"], entry["outcome"]) == ("raw/futures_bars_1m", "ok")
    assert entry["params"]["path"] == str(path) and entry["params"]["sha256"] == report["sha256"]
    assert entry["params"]["runs"] == [r["params"]["run_id"] for r in launched]
    assert {r["outcome"] for r in launched} == {"import"}


def test_wrong_guesses_exit_2_with_the_fix_and_the_fix_works(env_home: Path) -> None:
    path = str(DIALECTS / "es_3bars_semicolon_decimal_comma.csv")
    code, output = _import(path)
    assert code == 2 and "pass --separator ';' (and --decimal ','" in output
    code, output = _import(path, "--separator", ";")
    assert code == 2 and "line 2: open '5150,00' does not parse" in output
    assert "pass --decimal ','" in output
    code, output = _import(str(DIALECTS / "es_ragged_after_blank.csv"))
    assert code == 2 and "line 5 has 7 value(s) where the header has 6" in output
    code, output = _import(path, "--separator", "colon")
    assert code == 2 and "--separator 'colon' is not one of" in output
    assert not (env_home / "lake").exists()
    code, output = _import(path, "--separator", ";", "--decimal", ",")
    assert code == THREE_BARS_FAIL and "3 bars" in output


def test_piped_report_keeps_every_check_row_whole_on_one_line(env_home: Path) -> None:
    """Not on a terminal, the tables take their natural width: nothing cut at 80 columns."""
    path = str(DIALECTS / "es_3bars_no_blank.csv")
    result = runner.invoke(app, ["import", "bars", path, "--symbol", "ES"], env={"COLUMNS": None})
    assert result.exit_code == THREE_BARS_FAIL, result.output
    [row] = [
        line
        for line in result.stdout.splitlines()
        if "│ completeness │" in line and "normalized/futures_bars_1m" in line
    ]
    assert "2024-03-08|ES" in row
    assert "expected_bars=1380, missing_minutes=1377" in row and "unexpected_bars=0" in row
    assert "…" not in result.stdout
    note = "the file names no contract: each session is labelled with the front contract"
    assert note in result.stdout


def test_a_naive_clock_exits_2_with_the_fix_and_tz_imports_it(
    env_home: Path, tmp_path: Path
) -> None:
    """A file kept in Chicago time without offsets: refused, then read on --tz's clock."""
    path = tmp_path / "es_chicago.csv"
    rows = (DIALECTS / "es_3bars_no_blank.csv").read_text().splitlines()
    # 2024-03-07T23:00:00Z is 17:00 CST: the same bars written on the exchange's clock.
    path.write_text(
        "\n".join([rows[0], *(r.replace("T23:", " 17:").replace("Z,", ",") for r in rows[1:])])
    )
    code, output = _import(str(path))
    assert code == 2 and "line 2: ts '2024-03-07 17:00:00' has no time zone" in output
    assert "pass --tz with the zone the file's clock keeps" in output
    code, output = _import(str(path), "--tz", "Chicago")
    assert code == 2 and "--tz 'Chicago' is not an IANA time zone" in output
    assert "did you mean America/Chicago" in output
    code, output = _import(str(path), "--tz", "CST")
    assert code == 2 and "--tz 'CST' is an abbreviation" in output
    assert "pass --tz America/Chicago" in output and "UCT" not in output
    assert not (env_home / "lake").exists()
    code, output = _import(str(path), "--tz", "America/Chicago", "--json")
    assert code == THREE_BARS_FAIL, output
    report = json.loads(output)
    assert report["days"][0]["first_bar"] == "2024-03-07T23:00:00+00:00"
    normalized = Lake(env_home / "lake").read(NORMALIZED)
    assert normalized["close"].to_list() == [5152.0, 5152.5, 5152.75]


def test_an_import_its_checks_fail_exits_3_naming_the_checks_and_the_fix(env_home: Path) -> None:
    code, output = _import(str(DIALECTS / "es_3bars_no_blank.csv"))
    assert code == EXIT_FAILED_CHECKS == 3, output
    assert "FAILED normalized/futures_bars_1m 2024-03-08|ES: certifying check failed: " in output
    assert "completeness" in output
    command = "market-spine readiness --symbol ES --start 2024-03-08 --end 2024-03-08"
    assert f"`{command}`" in output
    shown = runner.invoke(app, command.split()[1:])
    assert shown.exit_code == 0 and "failed" in shown.output, shown.output
    assert "--replace to fix them" in output
    assert "run " in output and " ok" in output  # the run itself succeeded
    code, output = _import(str(DIALECTS / "es_3bars_no_blank.csv"), "--json")
    assert code == 3
    report = json.loads(output)
    failed = [(f["dataset"], f["partition"], f["series"]) for f in report["failed"]]
    assert failed[:2] == [(NORMALIZED, "2024-03-08|ES", None), (DAILY, "2024-03-08|ES", None)]
    # Each continuous series over the short front contract fails too, and is said apart.
    series = {(d, s) for d, p, s in failed[2:] if p == "2024-03-08|ES"}
    assert {("normalized/futures_continuous_1m", "ES.c.0")} <= series, failed
    assert {("analytics/futures_continuous_daily", "ES.c.0")} <= series, failed
