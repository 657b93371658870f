"""`market-spine company validate`: every company dataset file of the package and of the home
judged as the code location loads it, every problem of every file at once.

Exit status: 0 when every file loads, 1 when any does not (each named with its key path and
fix)."""

from __future__ import annotations

import typer

from market_spine.cli.console import command_run, console, settings_from_env

company = typer.Typer(help="Company datasets declared in YAML: validate.")


@company.command()
def validate() -> None:
    """Load every company dataset file (the package's `defs/` and `<home>/company/defs/`) and
    print each dataset that loads and every problem of those that do not."""
    from market_spine.company.catalog import DEFS_FOLDER
    from market_spine.company.config import dataset_files
    from market_spine.company.home_defs import folder_problems, read_home

    with command_run(dagster=False):
        settings = settings_from_env()
        package = folder_problems(DEFS_FOLDER)
        home = read_home(settings.home)
    problems = [*package, *home.problems]
    loaded = len(dataset_files(DEFS_FOLDER)) - len(package) + len(home.declared)
    for declared in home.declared:
        console.print(f"ok      {declared.config.name}  {declared.path}", highlight=False)
    for problem in problems:
        for line in problem.splitlines():
            console.print(f"[red]refused[/] {line}", highlight=False)
    console.print(
        f"{loaded} dataset file(s) load, {len(problems)} refused (home folder {home.folder})",
        highlight=False,
    )
    raise typer.Exit(1 if problems else 0)
