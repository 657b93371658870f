"""What every command does before its own work: files it writes are private to the user
(umask 077, inherited by the services and runs it starts), and the command is recorded in the
home's audit trail with its arguments (credentials masked) under the OS user."""

from __future__ import annotations

import os
import sys

import typer


def start_session(ctx: typer.Context) -> None:
    """Typer's callback before any command."""
    os.umask(0o077)
    if ctx.resilient_parsing or ctx.invoked_subcommand is None:
        return
    from market_spine.audit.recorder import record
    from market_spine.config.secrets import mask_arguments
    from market_spine.errors import SpineError
    from market_spine.settings import Settings

    try:
        home = Settings.home_from_env()
    except SpineError:
        return  # the command itself reports the bad home
    # The process's arguments when they are this command line's (not when it is invoked from
    # Python, as tests do): otherwise the command's name alone.
    given = sys.argv[1:]
    args = given if ctx.invoked_subcommand in given[:1] else [ctx.invoked_subcommand]
    params = {"argv": mask_arguments(args)}
    record(home, f"cli.{ctx.invoked_subcommand}", params=params, outcome="invoked")
