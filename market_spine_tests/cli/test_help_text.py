"""Every command's `--help` reads as paragraphs: on a terminal wide enough for any sentence, no
line of a description or of a command list starts in the middle of a sentence."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.cli.help_text import reflow

runner = CliRunner()
#: Wider than any paragraph, so every line break left is one the help text asked for.
WIDE = "3000"


def _paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    # Typer's groups are its own Click's: known by their subcommands.
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _paths(sub, (*path, name))
    return found


def _row_starts(command: Any) -> set[str]:
    """What a panel row of the command's help starts with: a subcommand or an argument."""
    names = set(getattr(command, "commands", {}))
    return names | {p.name for p in command.params if not p.name.startswith("-")}


def _stray_breaks(output: str, starts: set[str]) -> list[str]:
    """Lines that continue the line above: in the description (before the first panel) a
    non-blank line right under another; in a panel a row that starts with no option, argument
    or subcommand."""
    lines = output.splitlines()
    usage = next(i for i, line in enumerate(lines) if "Usage:" in line)
    stray = []
    previous = ""
    for line in lines[usage + 1 :]:
        text = line.strip()
        if text.startswith("╭"):
            break
        if text and previous:
            stray.append(text)
        previous = text
    in_panel = False
    for line in lines:
        text = line.strip()
        if text.startswith("╭"):
            in_panel = True
            continue
        if text.startswith("╰"):
            in_panel = False
            continue
        first = text.strip("│ ").split(" ", 1)[0]
        if in_panel and first and first[0] not in "-*" and first not in starts:
            stray.append(text)
    return stray


def test_every_command_help_is_clean_paragraphs() -> None:
    root = typer.main.get_command(app)
    paths = _paths(root)
    assert ("maintain",) in paths and ("stream",) in paths and ("alerts", "test") in paths
    for path in paths:
        command = root
        for name in path:
            command = command.commands[name]
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": WIDE})
        assert result.exit_code == 0, (path, result.output)
        assert _stray_breaks(result.output, _row_starts(command)) == [], path


def test_reflow_joins_a_paragraph_and_keeps_the_paragraphs_apart() -> None:
    text = """First line of a sentence
    that goes on.

    A second
    paragraph."""
    assert reflow(text) == "First line of a sentence that goes on.\n\nA second paragraph."
    assert reflow("\b\nkept\nas is") == "\b\nkept\nas is"
