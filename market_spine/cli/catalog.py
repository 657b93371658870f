"""`market-spine catalog [NAME]`: the dataset catalog, as tables on a terminal and as
tab-separated lines (or JSON with `--json`) when piped.

It reads the home's saved listing (`catalog_listing`) when nothing changed since it was built,
so a listing takes a few stats and a JSON read rather than querying every table; the home's own
company dataset files are read first, as they add datasets to the catalog.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from market_spine.cli.console import command_run, settings_from_env
from market_spine.errors import SpineError

if TYPE_CHECKING:
    from market_spine.settings import Settings

COLUMNS = (
    ("dataset", "name"),
    ("grain", "grain"),
    ("rows", "rows"),
    ("version", "delta_version"),
    ("newest partition", "newest_partition"),
    ("newest data", "newest_data_ts"),
    ("schema", "schema_version"),
)


def _fact(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _row(entry: dict[str, Any], plain: bool) -> list[str]:
    facts = entry["facts"]
    out = []
    for _, key in COLUMNS:
        if key == "schema_version":
            out.append(f"v{entry[key]}")
        elif key in ("name", "grain"):
            out.append(entry[key])
        else:
            value = facts.get(key)
            out.append(("" if value is None else str(value)) if plain else _fact(value))
    return out


def _damage(datasets: list[dict[str, Any]]) -> None:
    """Name each damaged table on stderr, with its repair (the listing itself stays readable)."""
    for entry in datasets:
        damaged = entry["facts"].get("damaged")
        if damaged:
            typer.echo(f"damaged: {damaged}", err=True)


def _overview(listing: dict[str, Any], as_json: bool) -> None:
    datasets = listing["datasets"]
    _damage(datasets)
    if as_json:
        overview = [{k: v for k, v in d.items() if k != "columns"} for d in datasets]
        typer.echo(json.dumps({"built_at": listing["built_at"], "datasets": overview}, indent=2))
        return
    if not sys.stdout.isatty():
        # One line per dataset, no wrapping: made for grep, cut and awk.
        typer.echo("\t".join(header for header, _ in COLUMNS))
        for entry in datasets:
            typer.echo("\t".join(_row(entry, plain=True)))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Datasets", show_lines=False)
    for header, _ in COLUMNS:
        table.add_column(header, no_wrap=header in ("dataset", "rows", "version"))
    for entry in datasets:
        table.add_row(*_row(entry, plain=False))
    console = Console()
    console.print(table)
    console.print("`market-spine catalog NAME` shows a dataset's columns, lineage and facts.")


def _detail(entry: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(entry, indent=2, default=str))
        return
    _damage([entry])
    lines = [f"{entry['name']} — {entry['description']}"]
    for label in ("owner", "grain", "partitioning", "kind"):
        lines.append(f"  {label}: {entry[label]}")
    lines.append(f"  upstream: {', '.join(entry['upstream']) or '– (a source capture)'}")
    history = "; ".join(
        f"v{h['version']} {h['since']}: {h['change']}" for h in entry["schema_history"]
    )
    lines.append(f"  schema: v{entry['schema_version']} ({history})")
    lines.append("columns:")
    lines += [f"  {c['name']}\t{c['type']}\t{c['description']}" for c in entry["columns"]]
    lines.append("live facts:")
    lines += [f"  {key}\t{_fact(value)}" for key, value in entry["facts"].items()]
    typer.echo("\n".join(lines))


def _last_materialization(settings: Settings, name: str) -> dict[str, Any] | None:
    """The dataset's newest materialization from the home's Dagster instance, read for one
    dataset's detail only: the listing is built without Dagster, so a command listing every
    dataset starts in a fraction of the time. None when the home has no instance or it cannot
    be opened (the rest of the detail is still worth showing)."""
    from market_spine.catalog.registry import CATALOG, last_materialization
    from market_spine.home import existing_instance

    try:
        instance = existing_instance(settings)
        if instance is None:
            return None
        with instance:
            return last_materialization(instance, CATALOG.get(name))
    except SpineError:
        return None


def catalog(
    name: Annotated[
        str | None, typer.Argument(help="A dataset, e.g. normalized/futures_bars_1m.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every dataset with live facts, or show one dataset's columns, lineage and facts."""
    from market_spine.catalog.listing import current
    from market_spine.company.home_defs import use_home

    with command_run(dagster=False):
        settings = settings_from_env()
        use_home(settings.home)
        listing = current(settings)
        if name is None:
            _overview(listing, as_json)
            return
        found = [d for d in listing["datasets"] if d["name"] == name]
        if not found:
            known = ", ".join(d["name"] for d in listing["datasets"])
            raise SpineError(f"no dataset {name!r} in the catalog: pick one of {known}")
        entry = found[0]
        if entry["facts"].get("last_materialization") is None:
            entry["facts"]["last_materialization"] = _last_materialization(settings, name)
        _detail(entry, as_json)
