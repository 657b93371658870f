"""`market-spine catalog [NAME]`: the dataset catalog as readable terminal tables."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from market_spine.errors import SpineError
from market_spine.settings import Settings


def _fact(facts: dict[str, Any], name: str) -> str:
    value = facts.get(name)
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _overview(settings: Settings) -> None:
    from market_spine.catalog.registry import CATALOG, facts
    from market_spine.lake import Lake

    console = Console()
    lake = Lake(settings.lake_root)
    table = Table(title=f"Datasets in {settings.home}", show_lines=False)
    headers = ("dataset", "grain", "rows", "version", "newest partition", "newest data", "schema")
    for header in headers:
        table.add_column(header, overflow="fold", no_wrap=header == "dataset")
    for spec, live in zip(CATALOG, facts(lake, list(CATALOG)), strict=True):
        table.add_row(
            spec.name,
            spec.grain,
            _fact(live, "rows"),
            _fact(live, "delta_version"),
            _fact(live, "newest_partition"),
            _fact(live, "newest_data_ts"),
            f"v{spec.schema_version}",
        )
    console.print(table)
    console.print("`market-spine catalog NAME` shows a dataset's columns, lineage and facts.")


def _detail(settings: Settings, name: str) -> None:
    from market_spine.catalog.registry import describe
    from market_spine.home import existing_instance
    from market_spine.lake import Lake

    console = Console()
    entry = describe(name, Lake(settings.lake_root), existing_instance(settings))
    console.print(f"[bold]{entry['name']}[/] — {entry['description']}")
    for label in ("owner", "grain", "partitioning", "kind"):
        console.print(f"  {label}: {entry[label]}")
    console.print(f"  upstream: {', '.join(entry['upstream']) or '– (a source capture)'}")
    history = "; ".join(
        f"v{h['version']} {h['since']}: {h['change']}" for h in entry["schema_history"]
    )
    console.print(f"  schema: v{entry['schema_version']} ({history})")
    columns = Table(title="columns")
    for header in ("column", "type", "description"):
        columns.add_column(header, overflow="fold")
    for c in entry["columns"]:
        columns.add_row(c["name"], c["type"], c["description"])
    console.print(columns)
    facts = Table(title="live facts")
    facts.add_column("fact")
    facts.add_column("value", overflow="fold")
    for key, value in entry["facts"].items():
        facts.add_row(key, "–" if value is None else str(value))
    console.print(facts)


def catalog(
    name: Annotated[
        str | None, typer.Argument(help="A dataset, e.g. normalized/futures_bars_1m.")
    ] = None,
) -> None:
    """List every dataset with live facts, or show one dataset's columns, lineage and facts."""
    settings = Settings.from_env()
    try:
        _detail(settings, name) if name else _overview(settings)
    except SpineError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
