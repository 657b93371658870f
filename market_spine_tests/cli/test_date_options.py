"""Every date option of the command line names a day the calendar lacks as such, not as a
badly written date, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["process", "--date", "2024-02-30"], "--date"),
        (["process", "--start", "2024-02-30", "--end", "2024-03-04"], "--start"),
        (["process", "--start", "2024-02-26", "--end", "2024-02-30"], "--end"),
        (["runs", "--since", "2024-02-30"], "--since"),
        (["retry", "--failed", "--since", "2024-02-30"], "--since"),
        (["gaps", "--start", "2024-02-30", "--end", "2024-03-04"], "--start"),
        (["gaps", "--start", "2024-02-26", "--end", "2024-02-30"], "--end"),
        (["quality", "--since", "2024-02-30"], "--since"),
        (["quality", "--until", "2024-02-30"], "--until"),
    ],
)
def test_a_day_past_the_months_end_is_said_not_to_exist(
    env_home: Path, args: list[str], option: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"{option} '2024-02-30' does not exist: February 2024 has 29 days" in said
    # Said to be a day the calendar lacks, not a text of the wrong form, then how to write one.
    assert "invalid " not in said and "neither an age" not in said and "is not a date" not in said
    assert f"{option} takes " in said and "2024-01-02" in said
    assert not (env_home / "lake").exists()
