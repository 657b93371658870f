"""`market-spine audit verify | anchor | export`: prove the audit trail is whole, anchor its
head outside the home, and hand it to compliance.

`verify` exits 0 when every entry's hash chain holds, 1 when it finds an edit, insertion or
deletion (each named), a dropped append-only trigger, or a rewrite the anchors (`--anchors
FILE`) reveal; 2 when it could not run (no trail in the home)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from market_spine.cli.console import command_run, console, settings_from_env

audit = typer.Typer(help="The audit trail: verify its hash chain, export it.", no_args_is_help=True)


@audit.command("verify")
def verify_command(
    anchors: Annotated[
        Path | None,
        typer.Option(
            help="A file of anchored heads (`audit anchor`): each must still be in the trail."
        ),
    ] = None,
) -> None:
    """Recompute every entry's hash and check the chain, the sequence, the head file, the
    append-only triggers and, with --anchors, the heads anchored outside the home."""
    from market_spine.audit.anchor import read_anchors
    from market_spine.audit.verify import verify
    from market_spine.settings import Settings

    with command_run(dagster=False):
        anchored = None if anchors is None else read_anchors(anchors)
        found = verify(Settings.home_from_env(), anchors=anchored)
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


@audit.command("anchor")
def anchor_command(
    to: Annotated[
        str | None,
        typer.Option(
            help="A file outside the home to append to, or an http(s) URL to POST to "
            "(default: the audit_anchor setting)."
        ),
    ] = None,
) -> None:
    """Anchor the trail's head (sequence number, hash, time) outside the home, so a rewrite of
    the whole trail is caught by `audit verify --anchors`."""
    from market_spine.audit.anchor import append_anchor, current_anchor
    from market_spine.errors import InvalidInput

    with command_run(dagster=False):
        settings = settings_from_env()
        target = to or settings.audit_anchor
        if not target:
            raise InvalidInput(
                "no anchor target: pass --to FILE|URL or set audit_anchor "
                "(MARKET_SPINE_AUDIT_ANCHOR) to a file outside the home or a URL"
            )
        anchor = current_anchor(settings.home)
        append_anchor(target, anchor)
    console.print(f"anchored entry {anchor.seq} ({anchor.hash}) at {target}", highlight=False)


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
