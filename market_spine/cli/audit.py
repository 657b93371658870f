"""`market-spine audit verify | export`: prove the audit trail is whole, and hand it to
compliance.

`verify` exits 0 when every entry's hash chain holds, 1 when it finds an edit, insertion or
deletion (each named), 2 when it could not run (no trail in the home)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from market_spine.cli.console import command_run, console

audit = typer.Typer(help="The audit trail: verify its hash chain, export it.", no_args_is_help=True)


@audit.command("verify")
def verify_command() -> None:
    """Recompute every entry's hash and check the chain, the sequence and the head file."""
    from market_spine.audit.verify import verify
    from market_spine.settings import Settings

    with command_run(dagster=False):
        found = verify(Settings.home_from_env())
    if found.intact:
        console.print(f"audit trail intact: {found.entries:,} entries, head {found.head}")
        return
    for problem in found.problems:
        console.print(f"[bold red]tampered:[/] {problem}", highlight=False)
    console.print(
        f"[bold red]the audit trail was altered[/] ({len(found.problems)} problem(s) above, "
        f"{found.entries:,} entries intact before the first); restore it from a backup"
    )
    raise typer.Exit(1)


@audit.command("export")
def export_command(
    since: Annotated[
        str, typer.Option(help="A span back from now (7d, 24h, 30m) or an ISO date or instant.")
    ] = "7d",
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or parquet.")] = "csv",
    actor: Annotated[str | None, typer.Option(help="Only this actor's entries.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Only entries about this dataset.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action (ending in '.': every action it starts).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Write the audit entries since an instant, filtered, as CSV, JSON lines or Parquet."""
    from market_spine.audit.export import AuditFilter, export, since_instant
    from market_spine.settings import Settings

    with command_run(dagster=False):
        where = AuditFilter(since_instant(since), actor, dataset, action)
        count = export(Settings.home_from_env(), where, fmt, output or sys.stdout)
    console.print(f"{count:,} audit entries exported" + (f" to {output}" if output else ""))
