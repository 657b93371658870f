"""`market-spine maintain`: compact, checkpoint and prune every lake table now."""

from __future__ import annotations

from typing import Annotated

import typer

from market_spine.cli.console import command_run, console, settings_from_env


def maintain(
    retention_hours: Annotated[
        int | None,
        typer.Option(
            help="Keep unpinned history this far back (default: the home's retention_days).",
            min=0,
        ),
    ] = None,
) -> None:
    """Compact, checkpoint and prune every table now (the daily schedule does the same):
    company datasets' rows past their own `retention_days` are deleted (each deletion a new
    version), history past the retention goes, except the versions certification pins, and
    each pruning is recorded in operations/prunings. A damaged table is refused and reported,
    and the others are still maintained."""
    from ulid import ULID

    from market_spine.operations.retention import maintain_lake, ranges

    with command_run():
        settings = settings_from_env()
        hours = settings.retention_hours if retention_hours is None else retention_hours
        lake = settings.lake()
        done = maintain_lake(lake, hours, f"cli-{ULID()}")
    for expired in done.expired:
        console.print(f"retention: {expired}", highlight=False)
    for table in done.undeclared:
        console.print(f"[bold yellow]warning:[/] {table}", highlight=False)
    for report in done.reports:
        pruning = report.pruning
        pruned = ""
        if pruning is not None and not pruning.empty:
            pruned = (
                f", pruned {len(pruning.files)} files ({pruning.bytes:,} bytes; versions "
                f"{ranges(pruning.versions) or 'none'} no longer readable)"
            )
        if pruning is not None and pruning.kept_for_pins:
            pruned += f", {pruning.kept_for_pins} files kept for certified versions"
        console.print(
            f"{report.dataset}: files {report.files_before} → {report.files_after}, "
            f"version {report.version}, {report.files_removed_by_vacuum} removed files and "
            f"{report.uncommitted_removed} never-committed files deleted{pruned}",
            highlight=False,
        )
    for message in done.refused.values():
        console.print(f"[bold red]refused:[/] {message}", highlight=False)
    if done.recorded:
        console.print(f"{done.recorded} prunings recorded in operations/prunings")
    if done.refused:
        console.print(
            f"{len(done.refused)} damaged tables left as they are (`market-spine verify`)"
        )
        raise typer.Exit(1)
