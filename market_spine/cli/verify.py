"""`market-spine verify [DATASET] [--deep | --drop-damaged | --start-afresh]`: what in the home
is damaged, and how to repair it.

Exit status: 0 when nothing is damaged (warnings such as orphan files may be printed), 1 when
something is, 2 when the command itself could not run.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from market_spine.cli.console import command_run, console, settings_from_env


def verify(
    dataset: Annotated[
        str | None, typer.Argument(help="One table, e.g. normalized/futures_bars_1m.")
    ] = None,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Also hash every file, read it whole and check its stats against it."
        ),
    ] = False,
    drop_damaged: Annotated[
        bool,
        typer.Option(
            "--drop-damaged",
            help="Remove DATASET's damaged data files from its newest version (one commit), so "
            "the rest reads again; re-materialize their dates afterwards.",
        ),
    ] = False,
    start_afresh: Annotated[
        bool,
        typer.Option(
            "--start-afresh",
            help="Set aside what is left of DATASET when its log is gone or damaged and forget "
            "its records, so the next write (and the trust records still journaled for it) "
            "starts it again; rebuild its dates afterwards.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check the lake's logs and files, the warehouse and the Dagster instance for damage."""
    from market_spine.errors import SpineError
    from market_spine.lake.verify import drop_damaged as drop
    from market_spine.lake.verify import start_afresh as restart
    from market_spine.operations.home_verification import verify_home

    with command_run():
        settings = settings_from_env()
        if not settings.lake_uri and not settings.lake_root.is_dir():
            # A mistyped home has nothing to verify; "no damage" would read as a healthy home.
            raise SpineError(
                f"{settings.home} holds no lake ({settings.lake_root} does not exist): point "
                "MARKET_SPINE_HOME at the home to verify"
            )
        if drop_damaged:
            if dataset is None:
                raise SpineError("--drop-damaged needs a DATASET: drop files of one table at once")
            dropped = drop(settings.lake(), dataset)
            for path in dropped:
                console.print(f"dropped {dataset}/{path}", highlight=False)
            console.print(f"{len(dropped)} damaged files dropped from {dataset}")
        if start_afresh:
            if dataset is None:
                raise SpineError("--start-afresh needs a DATASET: start one table at once")
            lake = settings.lake()
            aside = restart(lake, dataset)
            console.print(
                f"{dataset} starts afresh"
                + (f"; what was left of it is in {aside}" if aside else "")
                + ": rebuild its dates with `market-spine process`",
                highlight=False,
            )
            if not lake.exists(dataset):
                # Nothing was journaled for it: the next write makes it, nothing to verify.
                raise typer.Exit(0)
        report = verify_home(settings, dataset, deep)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        for f in report.findings:
            label = "[bold red]DAMAGED[/]" if f.damage else "[yellow]warning[/]"
            where = f"{f.subject}: {f.path}" if f.path else f.subject
            console.print(f"{label} {where}: {f.problem}\n  repair: {f.repair}", highlight=False)
        damaged = sum(f.damage for f in report.findings)
        console.print(
            f"{'deep ' if deep else ''}verify: {report.tables} tables, {report.files} files, "
            f"{report.bytes / 1e6:.1f} MB read in {report.seconds:.1f} s: "
            + (f"[bold red]{damaged} damaged[/]" if damaged else "[green]no damage[/]"),
            highlight=False,
        )
        if not deep and not damaged:
            # The light pass checks the log, sizes and footers; a flipped bit inside a page
            # shows only when contents are hashed.
            console.print(
                "contents were not hashed: `market-spine verify --deep` checks every file's "
                "SHA-256 and page checksums",
                highlight=False,
            )
    raise typer.Exit(1 if report.damaged else 0)
