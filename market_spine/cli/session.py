"""What every command does before its own work: files it writes are private to the user
(umask 077, inherited by the services and runs it starts), and the command is recorded in the
home's audit trail under the OS user when it ends: its arguments (credentials masked), what it
noted (`note`: the key it issued, say), when it started, and its outcome (`ok`, `failed` with
the error, or `stopped`)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from click.exceptions import Exit


@dataclass
class _Command:
    """The command this process runs, until its entry is recorded."""

    home: Path
    action: str
    params: dict[str, Any]
    error: str | None = None
    noted: dict[str, Any] = field(default_factory=dict)


_current: _Command | None = None


def note(**facts: Any) -> None:
    """Add `facts` (no secrets) to the audit entry of the running command."""
    if _current is not None:
        _current.noted.update(facts)


def failed_with(error: str) -> None:
    """Name the error the running command ends with, for its audit entry."""
    if _current is not None:
        _current.error = error


def finish(outcome: str | None = None) -> None:
    """Record the running command's entry once: `outcome`, else judged from the exception
    ending it (none or exit status 0: `ok`; anything else: `failed`)."""
    global _current
    command, _current = _current, None
    if command is None:
        return
    from market_spine.audit.recorder import record

    if outcome is None:
        exc = sys.exc_info()[1]
        # Typer's own Exit is not click's: both end a command with the status they carry.
        exits = (Exit, typer.Exit)
        code = (
            exc.exit_code
            if isinstance(exc, exits)
            else (exc.code if isinstance(exc, SystemExit) else None)
        )
        ok = exc is None or (code in (0, None) and isinstance(exc, (*exits, SystemExit)))
        outcome = "ok" if ok else "failed"
        if not ok and command.error is None:
            command.error = (
                f"exit status {code}" if code is not None else f"{type(exc).__name__}: {exc}"
            )
    params = {**command.params, **command.noted}
    if outcome == "failed" and command.error:
        params["error"] = command.error
    record(command.home, command.action, params=params, outcome=outcome)


def start_session(ctx: typer.Context) -> None:
    """Typer's callback before any command."""
    global _current
    os.umask(0o077)
    if ctx.resilient_parsing or ctx.invoked_subcommand is None:
        return
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
    params = {"argv": mask_arguments(args), "started_at": datetime.now(UTC).isoformat()}
    _current = _Command(home, f"cli.{ctx.invoked_subcommand}", params)
    # Closed as the command ends, an exception included (it is the one being handled then).
    ctx.call_on_close(finish)
