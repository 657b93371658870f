"""`market-spine rolls`: the roll table of a futures root — when each continuous series moved
from one contract to the next, by which rule, and the gap and ratio between the two contracts at
the last minute both traded. A table on a terminal, tab-separated lines when piped, JSON with
`--json`; an empty answer says why (no roll in the range, not loaded yet, in the future)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from market_spine.cli.console import command_run, console, print_rows, settings_from_env

if TYPE_CHECKING:
    import polars as pl
    from rich.console import Console

#: The columns shown on a terminal (header, column); `--json` and pipes give every column
#: (the minute the gap was priced at, the capture).
SHOWN = (
    ("trade date", "trade_date"),
    ("series", "series"),
    ("rule", "rule"),
    ("rolled at (UTC)", "roll_ts"),
    ("from", "from_contract"),
    ("to", "to_contract"),
    ("from price", "from_price"),
    ("to price", "to_price"),
    ("gap", "gap"),
    ("ratio", "ratio"),
)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "–"
    if column == "roll_ts":
        return value.strftime("%Y-%m-%d %H:%M")
    if column == "ratio":
        return f"{value:.6f}"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)


def _table(root: str, rows: pl.DataFrame, console: Console) -> None:
    from rich.table import Table

    table = Table(title=f"{root} rolls")
    for header, column in SHOWN:
        table.add_column(header, no_wrap=column in ("trade_date", "series", "roll_ts"))
    for row in rows.to_dicts():
        table.add_row(*(_cell(column, row[column]) for _, column in SHOWN))
    console.print(table)


def rolls(
    symbol: Annotated[
        str,
        typer.Argument(help="A futures root (CL) or one continuous series (CL.c.0, ES.v.1)."),
    ],
    start: Annotated[str, typer.Option(help="First trade date of the rolls, e.g. 2024-01-02.")],
    end: Annotated[
        str | None,
        typer.Option(help="Last trade date (inclusive); default: the latest trade date."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The roll table of a root or a continuous series: each roll's trade date, rule, from and
    to contract, and the gap and ratio between them at the last minute both traded."""
    from market_spine.client import Spine
    from market_spine.markets.empty_reads import EmptyReadWarning

    with command_run(dagster=False):
        spine = Spine(settings=settings_from_env())
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always", EmptyReadWarning)
            rows = spine.rolls(symbol, start, end)
        root = symbol.split(".")[0].upper()
        print_rows(rows, as_json, lambda shown: _table(root, rows, shown))
        # Why the answer is empty goes to stderr: the rows on stdout stay machine-readable.
        for warning in said:
            if issubclass(warning.category, EmptyReadWarning):
                console.print(f"[yellow]{escape(str(warning.message))}[/]", highlight=False)
