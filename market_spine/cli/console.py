"""The operator's console: where progress goes, how a command reads its settings, and how it ends
on an error (one line naming the cause)."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from market_spine.settings import Settings

#: Progress and results go to stderr so a command's data output (JSON, tables) can be piped.
console = Console(stderr=True)


def settings_from_env(symbols: str | None = None) -> Settings:
    """The home's settings from the environment; `--symbols` overrides the configured roots."""
    env = dict(os.environ)
    if symbols:
        env["MARKET_SPINE_SYMBOLS"] = symbols
    return Settings.from_env(env)


def fail(exc: Exception) -> None:
    """End the command with the cause on one line and exit status 2."""
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)
