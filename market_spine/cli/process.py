"""`market-spine process`: materialize trade dates of the futures, options and warehouse domains
through Dagster, with progress on the console."""

from __future__ import annotations

import contextlib
import io
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from market_spine.cli.console import command_run, console, settings_from_env
from market_spine.errors import SpineError
from market_spine.settings import Settings

if TYPE_CHECKING:
    from market_spine.runs.launch import RunSummary

DOMAINS = ("futures", "options", "warehouse", "all")


def run_domains(
    settings: Settings, start: date, end: date, domain: str = "all"
) -> list[RunSummary]:
    """Materialize [start, end] of the domain(s) with progress on the console; every run."""
    if domain not in DOMAINS:
        raise SpineError(f"--domain {domain!r} is not one of {', '.join(DOMAINS)}")
    runs: list[RunSummary] = []
    if domain in ("futures", "all"):
        runs += _process_futures(settings, start, end)
    if domain in ("options", "all"):
        runs += _process_options(settings, start, end)
    if domain in ("warehouse", "all"):
        runs += _process_warehouse(settings, start, end)
    return runs


def _line(label: str, run: RunSummary) -> str:
    """One run on one line: what, ok or failed (and why), its id, failed checks."""
    status = "[green]ok[/]" if run.success else "[red]failed[/]"
    failed = f" failed checks: {', '.join(run.failed_checks)}" if run.failed_checks else ""
    return f"{label} {status} run {run.run_id[:8]}{failed}"


def report_failures(runs: list[RunSummary]) -> None:
    """End with one line naming the first failed run's cause (and its fix); the full traces
    are in the runs' logs."""
    failed = [r for r in runs if not r.success]
    if not failed:
        return
    first = failed[0]
    console.print(
        f"[bold red]error:[/] {len(failed)} of {len(runs)} runs failed; run {first.run_id[:8]} "
        f"failed in {first.failure or 'an unknown step'} (full trace: the run's logs in the "
        "Dagster UI)",
        markup=True,
        highlight=False,
    )


def _process_warehouse(settings: Settings, start: date, end: date) -> list[RunSummary]:
    """Collect check results and build the dbt warehouse over what the lake now holds."""
    from market_spine.home import instance
    from market_spine.runs.launch import materialize_warehouse

    # dagster-dbt echoes dbt's whole log to stdout; the run's logs in the UI keep it.
    with console.status("warehouse: dbt build"), contextlib.redirect_stdout(io.StringIO()):
        runs = materialize_warehouse(settings, start, end, instance=instance(settings))
    for run in runs:
        console.print(_line(f"warehouse: {run.symbol}", run), highlight=False)
    return runs


def _process_options(settings: Settings, start: date, end: date) -> list[RunSummary]:
    """One backfill run of the option assets over the range, reported like the futures runs."""
    from market_spine.home import instance
    from market_spine.runs.launch import materialize_options

    with console.status(f"options {start}..{end}"):
        run = materialize_options(settings, start, end, instance=instance(settings))
    if run is None:
        console.print(f"options: no Cboe trading day in {start}..{end} (or before the history)")
        return []
    console.print(_line(f"SPX/SPXW {run.start}..{run.end}", run), highlight=False)
    return [run]


def _process_futures(settings: Settings, start: date, end: date) -> list[RunSummary]:
    """Futures runs, one per symbol, with a progress bar over partitions."""
    from market_spine.home import instance
    from market_spine.runs.launch import materialize_range, plan

    days = plan(settings.symbols, start, end)
    total = sum(len(d) for d in days.values())
    inst = instance(settings)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partitions"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("futures", total=total)

        def on_run(run: RunSummary) -> None:
            done = len([d for d in days[run.symbol] if run.start <= d <= run.end])
            progress.console.print(
                _line(f"{run.symbol} {run.start}..{run.end}", run), highlight=False
            )
            progress.advance(task, done)

        return materialize_range(
            settings, settings.symbols, start, end, instance=inst, on_run=on_run
        )


def process(
    date: Annotated[str | None, typer.Option(help="One trade date, e.g. 2024-03-05.")] = None,
    start: Annotated[str | None, typer.Option(help="First trade date of a range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last trade date of a range (inclusive).")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated roots, e.g. CL,ES.")] = None,
    domain: Annotated[str, typer.Option(help="futures, options, warehouse or all.")] = "all",
) -> None:
    """Materialize partitions through Dagster (the runs show in the UI)."""
    from market_spine.markets.dates import parse_date

    with command_run():
        if date and (start or end):
            raise SpineError("give either --date or --start/--end, not both")
        if not date and not start:
            raise SpineError("give --date D or --start D1 --end D2")
        if date:
            lo = hi = parse_date(date, "--date")
        else:
            lo = parse_date(start, "--start")
            hi = parse_date(end, "--end") if end else lo
        runs = run_domains(settings_from_env(symbols), lo, hi, domain)
    report_failures(runs)
    raise typer.Exit(0 if all(r.success for r in runs) else 1)
