"""`market-spine maintain`: compact, checkpoint and vacuum every lake table now."""

from __future__ import annotations

from typing import Annotated

import typer

from market_spine.cli.console import console, settings_from_env


def maintain(
    retention_hours: Annotated[int, typer.Option(help="Keep time travel this far back.")] = 168,
) -> None:
    """Compact, checkpoint and vacuum every table now (the daily schedule does the same)."""
    from market_spine.lake.maintenance import maintain as maintain_table
    from market_spine.lake.store import lake_at

    lake = lake_at(str(settings_from_env().lake_root))
    for dataset in lake.datasets():
        report = maintain_table(lake, dataset, retention_hours=retention_hours)
        console.print(
            f"{dataset}: files {report.files_before} → {report.files_after}, "
            f"version {report.version}, {report.files_removed_by_vacuum} removed files and "
            f"{report.uncommitted_removed} never-committed files deleted"
        )
