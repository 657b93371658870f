"""`market-spine runs [--since] [--status] [--dataset] [--symbol] [--json]` and `runs show ID`:
the run history of the home's Dagster instance, filtered, with throughput, memory and causes."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from market_spine.cli.console import command_run, settings_from_env
from market_spine.errors import SpineError

if TYPE_CHECKING:
    import dagster as dg

    from market_spine.operations.run_history import RunDetail, RunRow
    from market_spine.settings import Settings

runs = typer.Typer(
    help="The run history: what ran over which partitions, who launched it, how fast, why it "
    "failed.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The home's existing Dagster instance; a SpineError when the home has none yet."""
    from market_spine.home import existing_instance

    found = existing_instance(settings)
    if found is None:
        raise SpineError(
            f"the home {settings.home} has no Dagster instance yet: run `market-spine up` or "
            "`market-spine process` first"
        )
    return found


def _number(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


def _when(row: RunRow) -> str:
    return row.created.strftime("%Y-%m-%d %H:%M:%S")


def _status(status: str) -> str:
    colour = {"SUCCESS": "green", "FAILURE": "red", "CANCELED": "yellow"}.get(status, "cyan")
    return f"[{colour}]{status.lower()}[/]"


def _who(row: RunRow) -> str:
    return f"{row.launched_by or '?'}@{row.launched_from or '?'}"


_HEADERS = (
    "run",
    "created (UTC)",
    "status",
    "partitions",
    "datasets",
    "by@from",
    "duration",
    "rows",
    "rows/s",
    "MB/s",
    "peak MB",
    "cause",
)


def _cells(r: RunRow, plain: bool) -> list[str]:
    datasets = ", ".join(d.rsplit("/", 1)[-1] for d in r.datasets[:3])
    more = len(r.datasets) - 3
    return [
        r.run_id if plain else r.run_id[:8],
        _when(r),
        r.status.lower() if plain else _status(r.status),
        r.span.label if r.span else "–",
        (datasets + (f" +{more}" if more > 0 else "")) or r.job,
        _who(r),
        _number(r.duration_s, " s"),
        _number(r.rows, digits=0),
        _number(r.rows_per_s, digits=0),
        _number(r.mb_per_s, digits=2),
        _number(r.peak_memory_mb, digits=0),
        r.cause or "",
    ]


def _table(rows: list[RunRow]) -> None:
    """A table on a terminal; tab-separated lines, one per run, when piped."""
    if not sys.stdout.isatty():
        typer.echo("\t".join(_HEADERS))
        for r in rows:
            typer.echo("\t".join(_cells(r, plain=True)))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} runs, newest first")
    for i, header in enumerate(_HEADERS):
        right = 6 <= i <= 10
        table.add_column(header, justify="right" if right else "left", no_wrap=i < 4 or right)
    for r in rows:
        table.add_row(*_cells(r, plain=False))
    Console().print(table)


@runs.callback()
def history(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Only runs created since: 12h, 1d, 2w, or a date.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="failure, success, canceled, queued, started, running, active, ..."),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Runs materializing or checking this dataset.")
    ] = None,
    symbol: Annotated[str | None, typer.Option(help="Runs over partitions of this root.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List runs, newest first, with their parameters, speed, memory and cause of failure."""
    if ctx.invoked_subcommand is not None:
        return
    from market_spine.operations.run_history import find_runs, parse_since, parse_statuses

    with command_run():
        settings = settings_from_env()
        # The options before the instance: a bad one is named even in a home with no runs yet.
        since_at = parse_since(since) if since else None
        statuses = parse_statuses(status) if status else ()
        found = find_runs(
            open_instance(settings),
            since=since_at,
            statuses=statuses,
            dataset=dataset,
            symbol=symbol,
            limit=limit,
        )
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in found], indent=2))
    else:
        _table(found)


def _detail_lines(detail: RunDetail) -> list[str]:
    r = detail.row
    lines = [
        f"run {r.run_id}  [{_status(r.status)}]",
        f"  job: {r.job}",
        f"  partitions: {r.span.label if r.span else '–'}",
        f"  datasets: {', '.join(r.datasets) or '–'}",
        f"  launched by {r.launched_by or '?'} from {r.launched_from or '?'}",
        f"  created {r.created:%Y-%m-%d %H:%M:%S} UTC, duration {_number(r.duration_s, ' s')}",
        f"  rows {_number(r.rows, digits=0)} ({_number(r.rows_per_s, '/s', 0)}), written "
        f"{_number(r.written_mb, ' MiB', 1)} ({_number(r.mb_per_s, ' MiB/s', 2)}), peak memory "
        f"{_number(r.peak_memory_mb, ' MiB', 0)}",
    ]
    if r.cause:
        lines.append(f"  [red]cause:[/] {r.cause}")
    if detail.failed_checks:
        lines.append(f"  failed checks: {'; '.join(detail.failed_checks)}")
    if r.parent_run_id:
        lines.append(f"  re-execution of {r.parent_run_id} (first run {r.root_run_id})")
    if detail.attempts:
        lines.append("  attempts (oldest first):")
        for a in detail.attempts:
            mark = "→" if a.run_id == r.run_id else " "
            lines.append(
                f"  {mark} {a.run_id[:8]} {_when(a)} {_status(a.status)} {_who(a)}"
                + (f": {a.cause}" if a.cause else "")
            )
    lines.append("  tags:")
    lines += [f"    {k} = {v}" for k, v in detail.tags.items()]
    return lines


@runs.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="A run id, or its first 8 characters.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One run in full: parameters, tags, speed, memory, cause, failed checks and attempts."""
    from rich.console import Console

    from market_spine.operations.run_history import run_detail

    with command_run():
        detail = run_detail(open_instance(settings_from_env()), run_id)
    if as_json:
        payload: dict[str, Any] = detail.as_json()
        typer.echo(json.dumps(payload, indent=2))
        return
    out = Console(soft_wrap=True, highlight=False)
    for line in _detail_lines(detail):
        out.print(line)
