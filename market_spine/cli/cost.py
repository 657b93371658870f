"""`market-spine cost [--since 30d] [--by dataset|asset|component] [--json] [--record]`: what
the platform cost over a window, priced by the home's price sheet (`prices.toml`); `--record`
also refreshes the lake's cost per day, which the warehouse's cost mart reads."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from market_spine.cli.console import command_run, settings_from_env

if TYPE_CHECKING:
    from market_spine.operations.cost.report import CostReport

#: Columns a table printed to a pipe or file may take: wider than any report's row.
_PIPED_WIDTH = 400


def _print(report: CostReport) -> None:
    from rich.console import Console
    from rich.table import Table

    # Piped or redirected, the table is read by a program or a file: at full width, never cut
    # to the 80 columns Rich assumes without a terminal.
    console = Console() if sys.stdout.isatty() else Console(width=_PIPED_WIDTH, no_color=True)
    title = (
        f"Cost by {report.by}, {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"
    )
    table = Table(title=title, title_justify="left")
    # Grouped by component, the key is the component: one column says it.
    by_component = report.by == "component"
    for header in (
        report.by,
        *(() if by_component else ("component",)),
        "total $",
        "compute $",
        "requests $",
        "subs $",
        "storage $",
        "store req $",
        "CPU s",
        "CPU measured s",
        "peak MB",
        "read MB",
        "written MB",
        "requests",
        "store requests",
        "GB kept",
    ):
        table.add_column(header, justify="left" if header in (report.by, "component") else "right")
    for line in [*report.lines, report.totals]:
        table.add_row(
            line.key,
            *(() if by_component else (line.component,)),
            f"{line.total_usd:,.4f}",
            f"{line.compute_usd:,.4f}",
            f"{line.requests_usd:,.4f}",
            f"{line.subscription_usd:,.4f}",
            f"{line.storage_usd:,.4f}",
            f"{line.object_requests_usd:,.4f}",
            f"{line.cpu_s:,.1f}",
            f"{line.cpu_measured_s:,.1f}",
            f"{line.peak_memory_mb:,.0f}",
            f"{line.read_mb:,.1f}",
            f"{line.written_mb:,.1f}",
            f"{line.provider_requests:,}",
            f"{sum(line.object_requests.values()):,}",
            f"{(line.current_bytes + line.kept_bytes) / 1e9:,.3f}",
        )
    console.print(table)
    if report.unmetered_runs:
        console.print(
            f"{report.unmetered_runs} finished run(s) recorded no usage (executed before runs "
            "metered themselves) and are not priced."
        )
    if report.by != "component":
        console.print(
            f"CPU per {report.by}: measured around each step run in its run's process (CPU "
            "measured s), the rest of a run's shared evenly (an estimate); MiB and requests: a "
            "run's shared evenly by the assets it ran (an estimate; runs record them as a "
            "whole). Peak MB is the highest peak of a run charged."
        )
    if report.by == "asset" and report.totals.object_requests:
        console.print(
            "Object-store requests per asset: those each run made (its User-Agent names it in "
            "the store's access log) for an asset's dataset, the rest of a run's shared evenly; "
            "requests made outside runs are charged by dataset and component only."
        )
    if report.object_requests_note:
        console.print(report.object_requests_note)
    if report.storage_unrecorded_days:
        console.print(
            f"{report.storage_unrecorded_days} day(s) of the window precede the first storage "
            "measurement (the daily cost job, `cost --record`): their storage is not priced."
        )
    if report.running_runs:
        console.print(
            f"{report.running_runs} run(s) still queued or running: priced once they end and "
            "record their usage."
        )


def cost(
    since: Annotated[
        str, typer.Option(help="The window's start: an age (30d, 2w, 12h) or a date.")
    ] = "30d",
    by: Annotated[str, typer.Option(help="Group by dataset, asset or component.")] = "component",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Also refresh the lake's operations/cost_daily (the warehouse's cost mart "
            "reads it) for the last --days days.",
        ),
    ] = False,
    days: Annotated[
        int | None, typer.Option(help="Days --record refreshes, today included (default 7).")
    ] = None,
) -> None:
    """What the platform cost over a window: compute, provider requests and subscriptions, and
    storage, priced by the home's prices.toml, by dataset, asset or component."""
    from datetime import UTC, datetime

    from market_spine.operations.cost.daily import record_home_cost
    from market_spine.operations.cost.report import home_cost

    if days is not None and not record:
        raise typer.BadParameter("--days says how many days --record refreshes: add --record")
    days = 7 if days is None else days
    with command_run():
        settings = settings_from_env()
        # One end for the report and the days recorded: the days sum to the report's total.
        now = datetime.now(UTC)
        report = home_cost(settings, since=since, by=by, now=now)
        if record:
            rows = record_home_cost(settings, days=days, now=now)
            print(
                f"recorded {rows.height} cost rows for {days} day(s) in operations/cost_daily",
                file=sys.stderr,
            )
        if as_json:
            json.dump(report.as_json(), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            _print(report)
