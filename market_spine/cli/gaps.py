"""`market-spine gaps`: the partitions the calendars owe over a range and the instance lacks,
newest first, with an estimate; exported as CSV or JSON; filled as one Dagster backfill that can
be paused and resumed."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from market_spine.cli.console import (
    brief,
    command_run,
    console,
    quiet_libraries,
    settings_from_env,
)
from market_spine.errors import InvalidInput

if TYPE_CHECKING:
    import dagster as dg

    from market_spine.operations.gap_fill import Batch, FillSummary
    from market_spine.operations.gaps import GapReport
    from market_spine.settings import Settings

#: Gaps listed on the screen (all of them go to an export).
SHOWN = 20
#: A gap's status as the report words it (`operations.gaps`), read here without loading it.
NEVER = "never"
EXPORTS = ("csv", "json")


def gaps(
    start: Annotated[str | None, typer.Option(help="First trade date, e.g. 2024-01-02.")] = None,
    end: Annotated[str | None, typer.Option(help="Last trade date (inclusive).")] = None,
    domain: Annotated[str, typer.Option(help="futures, options or all.")] = "all",
    symbols: Annotated[
        str | None,
        typer.Option(
            help="Roots, e.g. CL,ES or SPX: futures roots select futures, option roots options "
            "(default: every root of the home)."
        ),
    ] = None,
    export: Annotated[str | None, typer.Option(help="csv or json: every gap, to stdout.")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write the export to this file instead of stdout.")
    ] = None,
    fill: Annotated[bool, typer.Option(help="Fill the gaps as one Dagster backfill.")] = False,
    dry_run: Annotated[bool, typer.Option(help="With --fill: print the plan only.")] = False,
    concurrency: Annotated[
        int, typer.Option(help="With --fill: runs at once (the estimate assumes as many).")
    ] = 2,
    batch: Annotated[
        int, typer.Option(help="With --fill: trade dates per run (the estimate plans so).")
    ] = 20,
    pause: Annotated[
        str | None, typer.Option(help="Pause this backfill; its finished partitions stay.")
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="Resume this paused backfill for what is still missing.")
    ] = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local", help="Compute the report in this process even when the home's API serves it."
        ),
    ] = False,
) -> None:
    """Missing partitions by the trading calendars, never attempted or failed, newest first.
    Exit status 0 when there is no gap (or the fill left none), 1 otherwise. Without --fill,
    the home's API computes the report when it is up (`GET /v1/gaps`): no Dagster loads here."""
    from market_spine.markets.dates import parse_date

    with command_run(dagster=False):
        settings = settings_from_env()
        if pause and resume:
            raise InvalidInput("give --pause or --resume, not both")
        if pause or resume:
            quiet_libraries()
            from market_spine.home import instance as home_instance

            inst = home_instance(settings)
            if pause:
                _pause(inst, pause)
                return
            summary = _resume(inst, settings, resume or "", batch, concurrency)
            raise typer.Exit(0 if summary is None or not summary.failures else 1)
        if not start or not end:
            raise InvalidInput("give --start D1 --end D2 (trade dates, e.g. 2024-01-02)")
        first, last = parse_date(start, "--start"), parse_date(end, "--end")
        if export is not None and export not in EXPORTS:
            raise InvalidInput(f"--export {export!r} is not one of csv, json")
        if dry_run and not fill:
            raise InvalidInput("--dry-run plans a fill: give it with --fill")
        if output is not None and export is None:
            raise InvalidInput(f"--output {output} writes an export: give --export csv or json")
        if fill and (concurrency < 1 or batch < 1):
            raise InvalidInput(
                f"--concurrency {concurrency} and --batch {batch} must each be at least 1"
            )
        if domain not in ("futures", "options", "all"):
            raise InvalidInput(f"--domain {domain!r} is not one of futures, options, all")
        from market_spine.cli.process import plan_domains

        # The same reading of --symbols as `process`: the roots name the domains.
        plan = plan_domains(domain, symbols)
        named = [d for d in plan.domains if d != "warehouse"]
        domain = named[0] if len(named) == 1 else "all"
        if plan.left_out and not (export and output is None):
            console.print(plan.left_out, highlight=False)
        roots = plan.futures_symbols.split(",") if plan.futures_symbols else None
        options = {"domain": domain, "batch": batch, "concurrency": concurrency}

        doc = None
        if not (fill or local):
            doc = from_api(settings, first, last, roots, options)
        if doc is None:
            quiet_libraries()
            from market_spine.home import instance as home_instance
            from market_spine.operations.gaps import find_gaps

            inst = home_instance(settings)
            report = find_gaps(inst, settings, first, last, symbols=roots, **options)
            doc = report.as_dict()
        if export:
            _export(doc, export, output)
        else:
            _show(doc)
        if not fill:
            raise typer.Exit(1 if doc["gaps"] else 0)
        summary = _fill(inst, settings, report, batch, concurrency, dry_run)
    if summary is None:
        raise typer.Exit(1 if doc["gaps"] else 0)
    raise typer.Exit(0 if summary.failed == summary.skipped == 0 else 1)


#: A warm report takes well under a second; a cold one (the status cache built) seconds. Past
#: this the command computes its own.
API_TIMEOUT_S = 60.0


def from_api(
    settings: Settings,
    start: date,
    end: date,
    roots: list[str] | None,
    options: dict[str, Any],
) -> dict[str, Any] | None:
    """The report the home's API computes (`GET /v1/gaps`), or None when no API of this home
    answers it; a refusal (a bad range or symbol) is raised as the API words it."""
    from market_spine.cli.home_api import ask

    params = {"start": start.isoformat(), "end": end.isoformat(), **options}
    if roots:
        params["symbols"] = ",".join(roots)
    return ask(settings, "/v1/gaps", params, API_TIMEOUT_S)


def _export(doc: dict[str, Any], fmt: str, output: Path | None) -> None:
    from market_spine.operations.gap_export import csv_of, json_of

    doc = {k: v for k, v in doc.items() if k != "home_id"}
    text = csv_of(doc) if fmt == "csv" else json_of(doc) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise InvalidInput(f"cannot write {output}: {exc.strerror}; pick a writable path") from exc
    console.print(f"{len(doc['gaps'])} gaps written to {output}")


def duration(seconds: float | None) -> str:
    """`1h 05m`, `3m 20s`, `12s`; "unknown" without a measure."""
    if seconds is None:
        return "unknown"
    left = timedelta(seconds=round(seconds))
    hours, rest = divmod(int(left.total_seconds()), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _show(doc: dict[str, Any]) -> None:
    """Per dataset: owed partitions missing, never attempted and failed; then the newest gaps.
    `doc` is the report's JSON document (`GapReport.as_dict`, or the API's)."""
    out = Console(soft_wrap=True)
    gaps = doc["gaps"]
    domains = "+".join(doc["domains"])
    roots = f" ({','.join(doc['roots'])})" if doc["roots"] else ""
    out.print(
        f"gaps {doc['start']}..{doc['end']} {domains}{roots}: {len(gaps)} of "
        f"{doc['owed']} owed partitions missing ({doc['never']} never attempted, "
        f"{doc['failed']} failed)",
        highlight=False,
    )
    if doc.get("not_yet_open"):
        out.print(f"[yellow]note:[/] {escape(doc['not_yet_open'])}", highlight=False)
    if not gaps:
        return
    table = Table("dataset", "never", "failed", "newest", "oldest")
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for gap in gaps:
        by_dataset.setdefault(gap["dataset"], []).append(gap)
    for name, rows in by_dataset.items():
        never = sum(1 for g in rows if g["status"] == NEVER)
        table.add_row(
            name, str(never), str(len(rows) - never), rows[0]["trade_date"], rows[-1]["trade_date"]
        )
    out.print(table)
    for gap in gaps[:SHOWN]:
        out.print(
            f"{gap['trade_date']} {gap['symbol'] or 'SPX/SPXW':8} {gap['dataset']:32} "
            f"{gap['status']}",
            highlight=False,
        )
    if len(gaps) > SHOWN:
        out.print(f"... {len(gaps) - SHOWN} more (--export csv|json lists them all)")
    fill = doc["estimate"]
    out.print(
        f"estimated fill time: {duration(fill['seconds'])} ({escape(fill['basis'])})",
        highlight=False,
    )


def _fill(
    inst: dg.DagsterInstance,
    settings: Settings,
    report: GapReport,
    batch: int,
    concurrency: int,
    dry_run: bool,
) -> FillSummary | None:
    from market_spine.operations.gap_fill import fill, lineage, owed_from_gaps, plan_batches

    if not report.gaps:
        console.print("nothing to fill")
        return None
    owed = owed_from_gaps(report.gaps)
    if dry_run:
        batches = plan_batches(owed, batch, lineage(settings))
        _print_plan(batches, concurrency)
        console.print("dry run: nothing submitted")
        return None
    summary = fill(
        inst,
        settings,
        owed,
        batch=batch,
        concurrency=concurrency,
        on_submitted=_on_submitted,
        on_run=_on_run,
        title=f"gaps {report.start}..{report.end}",
    )
    _print_summary(summary)
    return summary


def _resume(
    inst: dg.DagsterInstance, settings: Settings, backfill_id: str, batch: int, concurrency: int
) -> FillSummary | None:
    from market_spine.operations.gap_fill import resume

    summary = resume(
        inst,
        settings,
        backfill_id,
        batch=batch,
        concurrency=concurrency,
        on_submitted=_on_submitted,
        on_run=_on_run,
    )
    if summary is None:
        console.print(f"backfill {backfill_id}: nothing left to fill")
        return None
    _print_summary(summary)
    return summary


def _pause(inst: dg.DagsterInstance, backfill_id: str) -> None:
    from market_spine.operations.gap_fill import pause

    status = pause(inst, backfill_id)
    if status.value == "CANCELING":
        console.print(
            f"backfill {backfill_id} pausing: the runs under way finish and keep their "
            f"partitions; then `market-spine gaps --resume {backfill_id}` continues it"
        )
    else:
        console.print(
            f"backfill {backfill_id} paused; `market-spine gaps --resume {backfill_id}` "
            "continues it"
        )


def _print_plan(batches: list[Batch], concurrency: int) -> None:
    runs = len(batches)
    partitions = sum(len(b.owed()) for b in batches)
    console.print(
        f"plan: one backfill, {runs} runs, {partitions} asset partitions, "
        f"{concurrency} runs at once (newest first)",
        highlight=False,
    )
    for b in batches:
        console.print(f"  {b.label}", highlight=False)


def _on_submitted(backfill: object, batches: list[Batch] | None) -> None:
    backfill_id = backfill.backfill_id  # type: ignore[attr-defined]
    if batches is None:
        console.print(
            f"backfill {backfill_id} submitted; the Dagster daemon executes it (see the UI's "
            "backfills page); waiting for it to finish",
            highlight=False,
        )
        return
    console.print(
        f"backfill {backfill_id}: {len(batches)} runs executed here (see the UI's backfills "
        f"page; pause with `market-spine gaps --pause {backfill_id}`)",
        highlight=False,
    )


def _on_run(batch: Batch, run_id: str, ok: bool, cause: str | None) -> None:
    status = "[green]ok[/]" if ok else f"[red]failed[/] ({escape(brief(cause or 'see its logs'))})"
    console.print(f"{batch.label} {status} run {run_id[:8]}", highlight=False)


def _print_summary(summary: FillSummary) -> None:
    console.print(
        f"backfill {summary.backfill_id} {summary.status.lower()}: filled {summary.filled}, "
        f"failed {summary.failed}, skipped {summary.skipped} asset partitions in "
        f"{len(summary.runs)} runs",
        highlight=False,
    )
    for failure in summary.failures[:10]:
        console.print(f"  [red]failed[/] {escape(brief(failure))}", highlight=False)
    if summary.failures:
        console.print("each failed run's whole cause: `market-spine runs show ID`")
    if summary.status == "CANCELED":
        console.print(f"resume with `market-spine gaps --resume {summary.backfill_id}`")
