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
    from rich.console import Console

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


#: The speed and memory columns (indexes into _HEADERS), dropped on a narrow terminal.
_MEASURES = range(6, 11)
#: Terminal columns from which the whole table fits.
WIDE_TABLE = 160
#: Below this many columns no table fits: each run is a short block of lines instead.
NARROW = 120


def _cells(r: RunRow, plain: bool) -> list[str]:
    datasets = ", ".join(r.datasets[:3])
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


def _table(rows: list[RunRow], console: Console | None = None) -> None:
    """A table on a terminal (or `console`); tab-separated lines, one per run, when piped."""
    if console is None and not sys.stdout.isatty():
        typer.echo("\t".join(_HEADERS))
        for r in rows:
            typer.echo("\t".join(_cells(r, plain=True)))
        return
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if console.width < NARROW:
        _blocks(rows, console)
        return
    # Below this width the speed and memory columns give way, so the cause stays readable.
    wide = console.width >= WIDE_TABLE
    shown = [i for i in range(len(_HEADERS)) if wide or i not in _MEASURES]
    table = Table(title=f"{len(rows)} run{'' if len(rows) == 1 else 's'}, newest first")
    for i in shown:
        right = i in _MEASURES
        folds = _HEADERS[i] in ("datasets", "cause")
        table.add_column(
            _HEADERS[i],
            justify="right" if right else "left",
            no_wrap=not folds,
            overflow="fold" if folds else "ellipsis",
            ratio=2 if _HEADERS[i] == "cause" else (1 if folds else None),
            min_width=12 if folds else None,
        )
    for r in rows:
        cells = _cells(r, plain=False)
        table.add_row(*(cells[i] for i in shown))
    console.print(table)
    if not wide:
        console.print(
            "duration, rows, rows/s, MB/s and peak memory: a wider terminal, "
            "`runs show ID` or `--json`",
            style="dim",
        )


def _blocks(rows: list[RunRow], console: Console) -> None:
    """Each run as a heading line and its datasets and cause, wrapped to the terminal."""
    console.print(f"{len(rows)} run{'' if len(rows) == 1 else 's'}, newest first", style="bold")
    for r in rows:
        cells = dict(zip(_HEADERS, _cells(r, plain=False), strict=True))
        console.print(
            f"\n{cells['run']} {cells['status']}, created {cells['created (UTC)']} UTC by "
            f"{cells['by@from']}, ran {cells['duration']}",
            highlight=False,
        )
        if r.span is not None:
            kind = "trade dates" if r.span.first != r.span.last else "trade date"
            console.print(f"  {kind}: {r.span.label}", highlight=False)
        console.print(f"  datasets: {cells['datasets']}", highlight=False)
        if cells["cause"]:
            console.print(f"  cause: {cells['cause']}", highlight=False, markup=False)


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
    symbol: Annotated[
        str | None,
        typer.Option(help="Runs over partitions of this root: CL, ES, ... or SPX, SPXW."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List runs, newest first, with their parameters, speed, memory and cause of failure."""
    if ctx.invoked_subcommand is not None:
        return
    from market_spine.futures.partitions import partition_symbols
    from market_spine.operations.run_history import (
        find_runs,
        parse_dataset,
        parse_since,
        parse_statuses,
        parse_symbol,
    )

    with command_run():
        settings = settings_from_env()
        # The options before the instance: a bad one is named even in a home with no runs yet.
        since_at = parse_since(since) if since else None
        statuses = parse_statuses(status) if status else ()
        dataset = parse_dataset(dataset) if dataset is not None else None
        if symbol is not None:
            symbol = parse_symbol(symbol, partition_symbols(settings))
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
    warned = set(detail.warned_checks)
    errors = [c for c in detail.failed_checks if c not in warned]
    if errors:
        lines.append(f"  failed checks: {'; '.join(errors)}")
    if detail.warned_checks:
        lines.append(
            f"  [yellow]warnings:[/] {'; '.join(detail.warned_checks)} (warn severity: "
            "reported to the owner, blocks nothing)"
        )
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
