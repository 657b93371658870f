"""`market-spine import bars`: load a vendor file of 1-minute bars and show what the checks found.

Mounted by the main app with `app.add_typer(import_app, name="import")`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from market_spine.cli.console import command_run, console, output_console, settings_from_env

if TYPE_CHECKING:
    from market_spine.runs.vendor_import import ImportReport

#: The exit code of an import that wrote its bars but whose checks left a partition `failed`
#: (1: a run failed; 2: the file or the options were refused and nothing was written).
EXIT_FAILED_CHECKS = 3

import_app = typer.Typer(help="Import vendor files into the lake.", no_args_is_help=True)


@import_app.callback()
def _group() -> None:
    """Import vendor files into the lake."""  # a callback keeps `bars` a named subcommand


@import_app.command("bars")
def bars(
    path: Annotated[Path, typer.Argument(help="CSV, CSV.gz, Parquet or DBN(.zst) file.")],
    symbol: Annotated[
        str,
        typer.Option(
            help="Root (ES, 6E), contract (ESU4) or calendar continuous series (ES.c.1: each "
            "session filed under the contract it held) whose bars to import."
        ),
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="auto (by extension), csv, parquet or dbn.")
    ] = "auto",
    stamp: Annotated[
        str, typer.Option(help="open or close: which minute the file stamps each bar with.")
    ] = "open",
    mapping: Annotated[
        list[str] | None,
        typer.Option(help="FIELD=COLUMN, repeatable, e.g. --mapping ts='Date Time'."),
    ] = None,
    separator: Annotated[
        str, typer.Option(help="CSV only: the separator between values: , ; tab or |.")
    ] = ",",
    decimal: Annotated[
        str, typer.Option(help="CSV only: the decimal mark of numbers, . or , (5150,25).")
    ] = ".",
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            help="CSV and Parquet: the IANA time zone (America/Chicago, UTC) of timestamps "
            "written without a UTC offset; without it such timestamps are refused.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Replace sessions another source captured, or minutes a session holds of the "
            "file's contracts that the file lacks; without it such an import is refused and "
            "nothing is written.",
        ),
    ] = False,
) -> None:
    """Validate the whole file, write it as raw captures, then normalize and check it.

    Blank lines are left out; the report ends with every row left out and why. Exit codes:
    0 imported (certified or preliminary); 1 a run failed; 2 refused, nothing written; 3
    imported, but its checks left a partition FAILED (the report names the checks and the fix).
    """
    from market_spine.providers.file_csv import CsvDialect
    from market_spine.providers.file_formats import parse_mapping
    from market_spine.runs.vendor_import import import_bars

    with command_run():
        settings = settings_from_env()
        dialect = CsvDialect.of(separator, decimal)
        with console.status(f"importing {path.name}"):
            report = import_bars(
                settings,
                path,
                symbol,
                fmt,
                stamp,
                parse_mapping(mapping),
                dialect=dialect,
                replace=replace,
                tz=tz,
            )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print(report)
    if not report.success:
        raise typer.Exit(1)
    raise typer.Exit(0 if report.certified_or_pending else EXIT_FAILED_CHECKS)


def _print(report: ImportReport) -> None:
    out = output_console()
    out.print(
        f"[bold]{report.symbol}[/] from {report.path} ({report.format}, stamped at "
        f"{report.stamp}): {report.rows} bars, raw version {report.raw_version}"
    )
    for note in report.notes:
        out.print(f"[yellow]note:[/] {note}")
    days = Table("trade date", "contract", "bars", "expected", "missing", "no-trade", "unexpected")
    for d in report.days:
        missing = f"[red]{d.missing_minutes}[/]" if d.missing_minutes else "0"
        days.add_row(
            d.trade_date.isoformat(),
            d.contract,
            str(d.rows),
            str(d.expected_bars),
            missing,
            str(d.no_trade_minutes),
            str(d.unexpected_bars),
        )
    out.print(days)
    for d in report.days:
        if d.note:
            out.print(f"[yellow]{d.trade_date}:[/] {d.note}")
    failed = [c for c in report.checks if not c.passed]
    passed = len(report.checks) - len(failed)
    out.print(f"checks: {passed} of {len(report.checks)} partition evaluations passed")
    if failed:
        checks = Table("asset", "check", "partition", "result", "details")
        for c in failed:
            details = ", ".join(
                f"{k}={v}" for k, v in c.metadata.items() if not isinstance(v, list | dict)
            )
            # A session without its front contract's bars lacks them: missing, not failed.
            if c.missing:
                result, details = "[yellow]missing[/]", f"{c.missing}; {details}"
            else:
                result = f"[red]failed[/] ({c.severity.lower()})"
            checks.add_row(c.asset, c.check, c.partition or "", result, details)
        out.print(checks)
    for run in report.runs:
        status = "[green]ok[/]" if run.success else "[red]failed[/]"
        out.print(f"run {run.run_id[:8]} {run.start}..{run.end} {status}")
    _print_failed(report)
    for skip in report.skips:
        out.print(f"skipped {skip}", markup=False, highlight=False)
    if not report.skips:
        out.print("skipped nothing: every row of the file is imported")


def _print_failed(report: ImportReport) -> None:
    """Each partition the checks left FAILED, why, how to look and how to fix it (to stderr:
    the bars were written, but they are not fit to be certified)."""
    if not report.failed:
        return
    for f in report.failed:
        console.print(
            f"[red]FAILED[/] {f.dataset} {f.label}: {f.reason}", markup=True, highlight=False
        )
    days = sorted({f.partition.split("|")[0] for f in report.failed})
    symbol = report.failed[0].partition.split("|")[-1]
    console.print(
        f"the bars were imported but {len(report.failed)} partition(s) are FAILED, not "
        f"certified: see the failed checks above, or `market-spine readiness --symbol {symbol} "
        f"--start {days[0]} --end {days[-1]}` and `market-spine status`; import a file holding "
        "the missing minutes (or the complete sessions) with --replace to fix them",
        highlight=False,
    )


if __name__ == "__main__":
    import_app()
