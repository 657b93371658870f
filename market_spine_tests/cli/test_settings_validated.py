"""Every command that reads the home validates its settings first: a bad MARKET_SPINE_* value
ends it with the same one-line error (the variable and its fix), status 2, and nothing done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from market_spine.cli import app

runner = CliRunner()

#: Each command, with the arguments it needs to reach its work.
COMMANDS: dict[str, list[str]] = {
    "process": ["--date", "2024-03-05"],
    "up": ["--days", "1", "--no-serve"],
    "api": [],
    "maintain": [],
    "verify": [],
    "retry": ["--failed", "--dry-run"],
    "status": [],
    "catalog": [],
    "stream": ["--fake"],
    "import bars": ["bars.csv", "--symbol", "ES"],
    "alerts test": [],
    "alerts list": [],
    "runs": [],
    "runs show": ["0123abcd"],
    "gaps": ["--start", "2024-03-04", "--end", "2024-03-08"],
    "quality": [],
    "readiness": [],
    "rolls": ["ES", "--start", "2024-03-04"],
    "config validate": ["--offline"],
    "warehouse": ["--as-of", "2024-03-05T21:00:00Z"],
    "keys create": ["--role", "reader"],
    "keys list": [],
    "keys revoke": ["0123456789abcdef"],
    "cost": [],
    "company validate": [],
    "state copy": [],
}
#: Commands that do not run on the settings: local fakes configured by their own options, and
#: the commands that show and edit the settings themselves (they must work while one is bad, to
#: say where it comes from and to fix it; `config validate` judges them), and the audit trail's
#: (its proof must not depend on the settings being right).
READ_NO_SETTINGS = {
    "fake thetaterminal",
    "fake tws",
    "config get",
    "config set",
    "config reset",
    "config history",
    "audit verify",
    "audit export",
    "audit anchor",
}

BAD = [
    ("MARKET_SPINE_PROFILE", "staging", "MARKET_SPINE_PROFILE='staging' is not one of dev, test"),
    ("MARKET_SPINE_IB_PORT", "abc", "MARKET_SPINE_IB_PORT='abc' is not a whole number"),
]


def _leaves(group: Any, prefix: str = "") -> list[str]:
    """Every command a user can run: each group's subcommands, and a group that runs itself."""
    found = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            found += _leaves(command, f"{path} ")
            if command.invoke_without_command:
                found.append(path)
        else:
            found.append(path)
    return found


def test_every_command_is_listed_here() -> None:
    """A new command joins this check (or says it reads no settings)."""
    commands = set(_leaves(typer.main.get_command(app)))
    assert commands == set(COMMANDS) | READ_NO_SETTINGS


@pytest.mark.parametrize(("variable", "value", "message"), BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_setting_stops_every_command_with_its_fix(
    env_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.chdir(env_home.parent)
    result = runner.invoke(app, [*command.split(), *COMMANDS[command]])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and message in lines[-1], result.output
    assert "Traceback" not in result.output
    assert not env_home.exists()
