"""`market-spine maintain`: compact, checkpoint and vacuum every lake table now."""

from __future__ import annotations

from typing import Annotated

import typer

from market_spine.cli.console import command_run, console, settings_from_env
from market_spine.errors import SpineError


def maintain(
    retention_hours: Annotated[int, typer.Option(help="Keep time travel this far back.")] = 168,
) -> None:
    """Compact, checkpoint and vacuum every table now (the daily schedule does the same); a
    damaged table is refused and reported, and the others are still maintained."""
    from market_spine.lake.maintenance import maintain as maintain_table
    from market_spine.lake.store import lake_at

    with command_run():
        lake = lake_at(str(settings_from_env().lake_root))
        datasets = lake.datasets()
    refused = 0
    for dataset in datasets:
        try:
            report = maintain_table(lake, dataset, retention_hours=retention_hours)
        except SpineError as exc:
            refused += 1
            console.print(f"[bold red]refused:[/] {exc}", highlight=False)
            continue
        console.print(
            f"{dataset}: files {report.files_before} → {report.files_after}, "
            f"version {report.version}, {report.files_removed_by_vacuum} removed files and "
            f"{report.uncommitted_removed} never-committed files deleted"
        )
    if refused:
        console.print(f"{refused} damaged tables left as they are (`market-spine verify`)")
        raise typer.Exit(1)
