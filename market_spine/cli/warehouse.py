"""`market-spine warehouse --as-of T`: build the warehouse as it would have been at an instant
into a scratch DuckDB file (never the home's own) and, with `--sql`, answer a query from it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from market_spine.cli.console import command_run, console, settings_from_env


def warehouse(
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of",
            help="The instant, ISO with zone (2024-03-05T21:00:00Z): each lake table is read "
            "at the version current then.",
        ),
    ],
    sql: Annotated[
        str | None, typer.Option(help="A query to answer from the built warehouse.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="The DuckDB file to build (default <home>/warehouse/as_of/spine-<T>.duckdb)."
        ),
    ] = None,
) -> None:
    """Build every dbt model over the lake's snapshot at an instant into a scratch DuckDB file,
    say which table versions it read, and answer `--sql` from it. The home's warehouse and its
    lock are left alone."""
    from market_spine.warehouse.as_of import build_as_of, default_path, parse_instant

    with command_run():
        settings = settings_from_env()
        instant = parse_instant(as_of)
        built = build_as_of(settings, instant, out or default_path(settings.home, instant))
        answer = built.sql(sql) if sql else None
    console.print(
        f"warehouse as of {built.as_of.isoformat()} built in {built.seconds:.1f} s: {built.path}",
        highlight=False,
    )
    for dataset, version in sorted(built.versions.items()):
        shown = "not written yet" if version is None else f"version {version}"
        console.print(f"  {dataset}: {shown}", highlight=False)
    if answer is not None:
        console.print(str(answer), highlight=False)
