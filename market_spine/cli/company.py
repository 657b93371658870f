"""`market-spine company validate`: every company dataset file of the package and of the home
judged as the code location loads it, every problem of every file at once.

The datasets that load are listed on stdout (one a line: name, where it comes from, file);
warnings about them (a column named like a tenant without `tenant_column`, ...) and the
problems of files that do not load go to stderr, closed by a count naming the folders read.
Exit status: 0 when every file loads, 1 when any does not (each named with its key path and
fix); a warning alone does not fail it."""

from __future__ import annotations

import warnings

import typer
from rich.markup import escape

from market_spine.cli.console import command_run, console, output_console, settings_from_env

company = typer.Typer(help="Company datasets declared in YAML: validate.")


@company.command()
def validate() -> None:
    """Load every company dataset file (the package's `defs/` and `<home>/company/defs/`),
    list each dataset that loads (stdout) and every warning and problem (stderr)."""
    from market_spine.company.catalog import DEFS_FOLDER
    from market_spine.company.config import dataset_files, load
    from market_spine.company.home_defs import Declared, missing_drop, read_home
    from market_spine.company.tenancy import undeclared_tenant
    from market_spine.errors import InvalidInput

    with command_run(dagster=False):
        settings = settings_from_env()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            package: list[Declared] = []
            problems: list[str] = []
            for path in dataset_files(DEFS_FOLDER):
                try:
                    package.append(Declared(load(path, DEFS_FOLDER), path))
                except InvalidInput as exc:
                    problems.append(str(exc))
            home = read_home(settings.home)
        problems += home.problems
        found = [("package", d) for d in package] + [("home", d) for d in home.declared]
        notes = [str(w.message) for w in caught]
        notes += [n for _, d in found if (n := undeclared_tenant(d.config, d.path)) is not None]
        notes += [n for _, d in found if (n := missing_drop(d)) is not None]
        notes = list(dict.fromkeys(notes))
    out = output_console(highlight=False)
    for origin, declared in found:
        out.print(f"ok      {declared.config.name}  ({origin}) {declared.path}", markup=False)
    for note in notes:
        console.print(f"[yellow]warning:[/] {escape(note)}", highlight=False)
    for problem in problems:
        for line in problem.splitlines():
            console.print(f"[red]refused[/] {escape(line)}", highlight=False)
    where = "" if home.folder.is_dir() else " (absent: create it to add datasets)"
    console.print(
        f"{len(found)} dataset file(s) load, {len(problems)} refused, {len(notes)} warning(s); "
        f"read the package folder {DEFS_FOLDER} and the home folder {home.folder}{where}",
        highlight=False,
    )
    raise typer.Exit(1 if problems else 0)
