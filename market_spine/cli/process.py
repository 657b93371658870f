"""`market-spine process`: materialize trade dates of the futures, options and warehouse domains
through Dagster, with progress on the console."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from market_spine.cli.console import brief, command_run, console, settings_from_env
from market_spine.errors import LakeDamaged, SpineError, UnknownSymbol
from market_spine.settings import Settings

if TYPE_CHECKING:
    from market_spine.runs.launch import RunSummary

DOMAINS = ("futures", "options", "company", "warehouse", "all")
#: What `--domain all` runs, in order: the warehouse last, over what the others wrote.
EVERY_DOMAIN = ("futures", "options", "warehouse")


@dataclass(frozen=True)
class DomainPlan:
    """What `process` runs: the domains in order, the futures roots (None: the configured
    ones) and a sentence naming what `--symbols` left out (None when nothing was)."""

    domains: tuple[str, ...]
    futures_symbols: str | None = None
    left_out: str | None = None

    def describe(self, settings: Settings) -> str:
        """One line naming what will run, e.g. `futures CL, warehouse; options left out: ...`."""
        parts = []
        for domain in self.domains:
            if domain == "futures":
                parts.append(f"futures {','.join(settings.symbols)}")
            elif domain == "options":
                parts.append("options SPX/SPXW (one chain per trade date holds both roots)")
            else:
                parts.append(domain)
        return ", ".join(parts) + (f"; {self.left_out}" if self.left_out else "")


def plan_domains(domain: str, symbols: str | None = None) -> DomainPlan:
    """The domains `--domain` and `--symbols` ask for. Without `--symbols`, the domain alone
    decides (`all`: futures, options, warehouse). With it, futures roots (CL, ES, a configured
    root) select futures and option roots (SPX, SPXW) select options: `--domain all` runs only
    the domains the symbols name, then the warehouse over them; a domain that none of the
    symbols belong to raises SpineError naming the fix."""
    from market_spine.markets.expirations import ROOTS as OPTION_ROOTS
    from market_spine.markets.instruments import series_name

    if domain not in DOMAINS:
        raise SpineError(f"--domain {domain!r} is not one of {', '.join(DOMAINS)}")
    domains = EVERY_DOMAIN if domain == "all" else (domain,)
    if not symbols:
        return DomainPlan(domains)
    # A continuous series keeps its lower-case kind letter, so a refusal names it as given.
    names = [series_name(s) or s.strip().upper() for s in symbols.split(",") if s.strip()]
    options = [n for n in names if n in OPTION_ROOTS]
    futures = [n for n in names if n not in OPTION_ROOTS]
    futures_symbols = ",".join(futures) or None
    if domain == "futures" and options:
        raise SpineError(
            f"--symbols {','.join(options)}: option roots have no futures runs; pass them with "
            "--domain options or all, or name futures roots only"
        )
    if domain == "options" and futures:
        from market_spine.markets.instruments import known_symbols

        unknown = [n for n in futures if n not in known_symbols()]
        if unknown:
            raise UnknownSymbol(
                f"--symbols {','.join(unknown)}: unknown symbol; option roots are "
                f"{', '.join(OPTION_ROOTS)} (futures roots: {', '.join(known_symbols())})"
            )
        raise SpineError(
            f"--symbols {','.join(futures)}: futures roots have no option runs (--domain options "
            f"runs {'/'.join(OPTION_ROOTS)}); pass them with --domain futures or all"
        )
    if domain != "all":
        return DomainPlan(domains, futures_symbols)
    named = {"futures": bool(futures), "options": bool(options), "warehouse": True}
    left_out = None
    if not named["futures"]:
        left_out = f"futures left out: --symbols {','.join(names)} names no futures root"
    elif not named["options"]:
        left_out = (
            f"options left out: --symbols {','.join(names)} names no option root "
            f"({', '.join(OPTION_ROOTS)})"
        )
    return DomainPlan(tuple(d for d in domains if named[d]), futures_symbols, left_out)


def run_domains(
    settings: Settings,
    start: date,
    end: date,
    domains: tuple[str, ...] = EVERY_DOMAIN,
    days_per_run: int | None = None,
    replace: bool = False,
) -> list[RunSummary]:
    """Materialize [start, end] of each domain in `domains` (see `plan_domains`) with progress
    on the console; every run. Futures runs cover at most `days_per_run` trade dates of one
    symbol each (default `SESSIONS_PER_RUN`); their captures replace sessions another source
    wrote (a vendor import) only with `replace` (else WouldReplace, before any run)."""
    runs: list[RunSummary] = []
    if "futures" in domains:
        runs += _process_futures(settings, start, end, days_per_run, replace)
    if "options" in domains:
        runs += _process_options(settings, start, end)
    if "company" in domains:
        runs += _process_company(settings)
    if "warehouse" in domains:
        runs += _process_warehouse(settings, start, end)
    return runs


def _process_company(settings: Settings) -> list[RunSummary]:
    """Capture the company datasets' new source rows and rebuild their silver tables (their
    dates are their data's, not the range's)."""
    from market_spine.home import instance
    from market_spine.runs.launch import materialize_company

    with console.status("company datasets"):
        runs = materialize_company(settings, instance=instance(settings))
    for run in runs:
        # Each dataset fails on its own, so each failed one says why on its own line.
        why = f" ({run.failure})" if run.failure and not run.success else ""
        console.print(_line(f"company: {run.symbol}", run, why), highlight=False)
    return runs


def _line(label: str, run: RunSummary, why: str = "") -> str:
    """One run: what, ok or failed, its id and its failed `error` checks on one line; under
    it, apart, its failed `warn` checks (findings that block nothing) and what its assets
    noted (rows a capture left out and why)."""
    status = "[green]ok[/]" if run.success else "[red]failed[/]"
    warned = set(run.warned_checks)
    errors = [c for c in run.failed_checks if c not in warned]
    failed = f" failed checks: {', '.join(errors)}" if errors else ""
    lines = [f"{label} {status} run {run.run_id[:8]}{failed}{why}"]
    if run.warned_checks:
        lines.append(
            f"    [yellow]warning:[/] {', '.join(run.warned_checks)} failed (warn severity: "
            "reported to the owner, blocks nothing)"
        )
    lines += [f"    note: {escape(note)}" for note in run.notes]
    return "\n".join(lines)


def report_failures(runs: list[RunSummary]) -> None:
    """End with one line naming every failed run, what it ran and its cause (and fix), and
    where its whole log is: a library's dump (a dbt build's traceback) stays in the log."""
    failed = [r for r in runs if not r.success]
    if not failed:
        return
    each = "; ".join(
        escape(f"run {r.run_id[:8]} ({_ran(r)}) failed in {one_line_cause(r.failure)}")
        for r in failed
    )
    show = f"`market-spine runs show {failed[0].run_id[:8]}`" + (
        " (and each run's id)" if len(failed) > 1 else ""
    )
    console.print(
        f"[bold red]error:[/] {len(failed)} of {len(runs)} runs failed: {each} (details: "
        f"{escape(show)}; whole log: the run's page in the Dagster UI)",
        markup=True,
        highlight=False,
    )


def one_line_cause(failure: str | None) -> str:
    """A run's cause on one short line; damaged lake data whole, since its repair command
    is the point of the message."""
    if not failure:
        return "an unknown step"
    step = failure.split(": ", 1)[0]
    damage = LakeDamaged.quoted_in(failure)
    if damage:
        return f"{step}: {damage}"
    # The fix is the point of the line: the cause is shortened, never the fix.
    cause, said, fix = failure.rpartition("fix:")
    return f"{brief(cause)} fix: {brief(fix)}" if said and cause else brief(failure)


def _ran(run: RunSummary) -> str:
    """What a run ran: its symbol or dataset, and its dates when it spans several."""
    return run.symbol if run.start == run.end else f"{run.symbol} {run.start}..{run.end}"


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


def _process_futures(
    settings: Settings,
    start: date,
    end: date,
    days_per_run: int | None = None,
    replace: bool = False,
) -> list[RunSummary]:
    """Futures range runs, per symbol in chunks of trade dates, with a progress bar over
    partitions."""
    from market_spine.catalog.dagster_metadata import SESSIONS_PER_RUN
    from market_spine.home import instance, keep_instruments
    from market_spine.runs.launch import materialize_range, plan

    days = plan(settings.symbols, start, end)
    recorded = keep_instruments(settings, days)
    if recorded:
        console.print(
            f"recorded {', '.join(recorded)} from {settings.instruments_file} in "
            f"{settings.home}/instruments.toml: later commands know "
            f"{'it' if len(recorded) == 1 else 'them'} without MARKET_SPINE_INSTRUMENTS",
            highlight=False,
        )
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
            settings,
            settings.symbols,
            start,
            end,
            instance=inst,
            on_run=on_run,
            days_per_run=days_per_run or SESSIONS_PER_RUN,
            replace=replace,
        )


def process(
    date: Annotated[str | None, typer.Option(help="One trade date, e.g. 2024-03-05.")] = None,
    start: Annotated[str | None, typer.Option(help="First trade date of a range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last trade date of a range (inclusive).")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated roots, e.g. CL,ES.")] = None,
    domain: Annotated[
        str, typer.Option(help="futures, options, company, warehouse or all.")
    ] = "all",
    days_per_run: Annotated[
        int | None,
        typer.Option(
            help="Trade dates per futures run, one symbol each (default a quarter of "
            "sessions): a failed run is retried for its dates only.",
            min=1,
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Capture over sessions whose bars came from another source (a vendor "
            "import), replacing them; without it such a session is refused.",
        ),
    ] = False,
) -> None:
    """Materialize partitions through Dagster (the runs show in the UI). `--domain company`
    needs no date: each company dataset's dates are its data's."""
    from market_spine.company.home_defs import require_declarations
    from market_spine.markets.dates import in_order, parse_date
    from market_spine.runs.launch import plan as trading_days

    with command_run():
        if date and (start or end):
            raise SpineError("give either --date or --start/--end, not both")
        plan = plan_domains(domain, symbols)
        # Company datasets take their dates from their own data, so they need no range.
        dated = plan.domains != ("company",)
        if dated and not date and not start:
            raise SpineError("give --date D or --start D1 --end D2")
        if date:
            lo = hi = parse_date(date, "--date")
        elif start:
            lo = parse_date(start, "--start")
            hi = parse_date(end, "--end") if end else lo
            # Before anything is planned or said: a reversed range runs nothing.
            in_order(lo, hi, ("--start", "--end"))
        else:
            lo = hi = datetime.now(UTC).date()
        settings = settings_from_env(plan.futures_symbols)
        # Every run loads the code location, which refuses a company file that does not load:
        # say so once, with every problem, before any run.
        require_declarations(settings.home)
        if "futures" in plan.domains:
            # A range outside the partitions or without a session is refused before the plan
            # is said, as a reversed one is.
            trading_days(settings.symbols, lo, hi)
        span = f" {lo}..{hi}" if dated else ""
        console.print(f"process{span}: {plan.describe(settings)}", highlight=False)
        runs = run_domains(settings, lo, hi, plan.domains, days_per_run, replace)
    report_failures(runs)
    raise typer.Exit(0 if all(r.success for r in runs) else 1)
