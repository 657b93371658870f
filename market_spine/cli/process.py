"""`market-spine process`: materialize trade dates of the futures, options and warehouse domains
through Dagster, with progress on the console."""

from __future__ import annotations

import contextlib
import io
from datetime import date
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from market_spine.cli.console import console, fail, settings_from_env
from market_spine.errors import SpineError
from market_spine.settings import Settings

DOMAINS = ("futures", "options", "warehouse", "all")


def run_domains(settings: Settings, start: date, end: date, domain: str = "all") -> bool:
    """Materialize [start, end] of the domain(s) with a progress bar; True if every run passed."""
    if domain not in DOMAINS:
        raise SpineError(f"--domain {domain!r} is not one of {', '.join(DOMAINS)}")
    ok = True
    if domain in ("futures", "all"):
        ok = _process_futures(settings, start, end)
    if domain in ("options", "all"):
        ok = _process_options(settings, start, end) and ok
    if domain in ("warehouse", "all"):
        ok = _process_warehouse(settings, start, end) and ok
    return ok


def _process_warehouse(settings: Settings, start: date, end: date) -> bool:
    """Collect check results and build the dbt warehouse over what the lake now holds."""
    from market_spine.home import instance
    from market_spine.runs.launch import materialize_warehouse

    # dagster-dbt echoes dbt's whole log to stdout (the UI keeps it per step): here only a
    # failure's tail is worth showing.
    dbt_log = io.StringIO()
    with console.status("warehouse: dbt build"), contextlib.redirect_stdout(dbt_log):
        runs = materialize_warehouse(settings, start, end, instance=instance(settings))
    for run in runs:
        status = "[green]ok[/]" if run.success else "[red]failed[/]"
        failed = f" failed checks: {', '.join(run.failed_checks)}" if run.failed_checks else ""
        console.print(f"warehouse: {run.symbol} {status} run {run.run_id[:8]}{failed}")
    ok = all(run.success for run in runs)
    if not ok:
        console.print("\n".join(dbt_log.getvalue().splitlines()[-40:]), markup=False)
    return ok


def _process_options(settings: Settings, start: date, end: date) -> bool:
    """One backfill run of the option assets over the range, reported like the futures runs."""
    from market_spine.home import instance
    from market_spine.runs.launch import materialize_options

    with console.status(f"options {start}..{end}"):
        run = materialize_options(settings, start, end, instance=instance(settings))
    if run is None:
        console.print(f"options: no Cboe trading day in {start}..{end} (or before the history)")
        return True
    status = "[green]ok[/]" if run.success else "[red]failed[/]"
    failed = f" failed checks: {', '.join(run.failed_checks)}" if run.failed_checks else ""
    console.print(f"SPX/SPXW {run.start}..{run.end} {status} run {run.run_id[:8]}{failed}")
    return run.success


def _process_futures(settings: Settings, start: date, end: date) -> bool:
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
    ) as progress:
        task = progress.add_task("futures", total=total)

        def on_run(run) -> None:
            done = len([d for d in days[run.symbol] if run.start <= d <= run.end])
            status = "[green]ok[/]" if run.success else "[red]failed[/]"
            failed = f" failed checks: {', '.join(run.failed_checks)}" if run.failed_checks else ""
            progress.console.print(
                f"{run.symbol} {run.start}..{run.end} {status} run {run.run_id[:8]}{failed}"
            )
            progress.advance(task, done)

        runs = materialize_range(
            settings, settings.symbols, start, end, instance=inst, on_run=on_run
        )
    return all(r.success for r in runs)


def process(
    date: Annotated[str | None, typer.Option(help="One trade date, e.g. 2024-03-05.")] = None,
    start: Annotated[str | None, typer.Option(help="First trade date of a range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last trade date of a range (inclusive).")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated roots, e.g. CL,ES.")] = None,
    domain: Annotated[str, typer.Option(help="futures, options, warehouse or all.")] = "all",
) -> None:
    """Materialize partitions through Dagster (the runs show in the UI)."""
    from market_spine.markets.dates import parse_date

    try:
        if date and (start or end):
            raise SpineError("give either --date or --start/--end, not both")
        if not date and not start:
            raise SpineError("give --date D or --start D1 --end D2")
        lo = parse_date(date or start)
        hi = parse_date(date or end or start)
        ok = run_domains(settings_from_env(symbols), lo, hi, domain)
    except SpineError as exc:
        fail(exc)
    raise typer.Exit(0 if ok else 1)
