"""`market-spine rolls`: the roll table as Spine reads it, as JSON, tab-separated lines and a
table; an empty range says why; a bad symbol or date says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from market_spine import Spine
from market_spine.cli import app as cli
from market_spine.cli.rolls import _table
from market_spine_tests.kit.homes import settings_for

WEEK = ["--start", "2024-03-04", "--end", "2024-03-08"]


def _env(home: Path) -> dict[str, str]:
    return {"MARKET_SPINE_HOME": str(home)}


def test_the_json_is_spines_roll_table(materialized_home: Path) -> None:
    out = CliRunner().invoke(cli, ["rolls", "ES", *WEEK, "--json"], env=_env(materialized_home))
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    expected = Spine(settings=settings_for(materialized_home)).rolls(
        "ES", "2024-03-04", "2024-03-08"
    )
    assert sorted(r["series"] for r in rows) == ["ES.c.0", "ES.c.1", "ES.v.0", "ES.v.1"]
    assert [(r["series"], r["from_contract"], r["to_contract"], r["gap"]) for r in rows] == [
        (r["series"], r["from_contract"], r["to_contract"], r["gap"]) for r in expected.to_dicts()
    ]
    assert all(r["gap"] == r["to_price"] - r["from_price"] for r in rows)


def test_one_series_piped_is_one_tab_separated_line(materialized_home: Path) -> None:
    out = CliRunner().invoke(cli, ["rolls", "es.v.0", *WEEK], env=_env(materialized_home))
    assert out.exit_code == 0, out.output
    header, *lines = out.stdout.strip().splitlines()
    assert header.split("\t")[:4] == ["trade_date", "symbol", "series", "rule"]
    assert len(lines) == 1 and lines[0].split("\t")[2] == "ES.v.0"


def test_the_table_names_each_roll(materialized_home: Path) -> None:
    console = Console(width=120)
    rows = Spine(settings=settings_for(materialized_home)).rolls("ES", "2024-03-04", "2024-03-08")
    with console.capture() as shown:
        _table("ES", rows, console)
    text = shown.get()
    assert (
        "ES rolls" in text
        and text.count("ESH4") == 2
        and text.count("ESU4") == 2
        and "ES.v.1" in text
    )


def test_an_empty_range_says_why_and_bad_input_says_what_is_wrong(
    materialized_home: Path,
) -> None:
    env = _env(materialized_home)
    quiet = CliRunner().invoke(
        cli, ["rolls", "CL", "--start", "2024-03-04", "--end", "2024-03-05"], env=env
    )
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout.strip().count("\n") == 0  # the header alone
    assert "no calendar roll on 2024-03-04..2024-03-05" in quiet.stderr
    assert "widen the range" in quiet.stderr
    for args, said in (
        (["rolls", "XX", "--start", "2024-03-04"], "unknown symbol 'XX'"),
        (["rolls", "CL.x.0", "--start", "2024-03-04"], "ROOT.c.N (calendar roll)"),
        (["rolls", "CL", "--start", "2024-02-30"], "February 2024 has 29 days"),
        (["rolls", "CL", "--start", "2024-03-08", "--end", "2024-03-04"], "2024-03-08"),
    ):
        refused = CliRunner().invoke(cli, args, env=env)
        assert refused.exit_code == 2 and said in refused.output, (args, refused.output)
