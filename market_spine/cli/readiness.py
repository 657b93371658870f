"""`market-spine readiness`: is the data ready — per dataset, symbol and trade date its
certification, completeness, anomalies, capture and freshness lag, as a table on a terminal,
tab-separated lines when piped, or JSON with `--json`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from market_spine.cli.console import command_run, print_rows, settings_from_env

if TYPE_CHECKING:
    # Only the frame's type: every command imports this module, and most need no polars.
    import polars as pl
    from rich.console import Console

#: The columns shown on a terminal (header, column); `--json` and pipes give every column.
SHOWN = (
    ("dataset", "dataset"),
    ("symbol", "symbol"),
    ("trade date", "trade_date"),
    ("state", "state"),
    ("why", "reason"),
    ("complete", "completeness"),
    ("missing", "missing"),
    ("no trade", "no_trade"),
    ("anomalies", "anomalies"),
    ("worst", "worst_anomaly_kind"),
    ("computed", "computed_at"),
    ("capture", "capture_id"),
    ("lag", "freshness_lag_s"),
)
BADGES = {"certified": "green", "preliminary": "yellow", "revised": "cyan", "failed": "red"}


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "–"
    if column == "completeness":
        return f"{value:.1%}"
    if column == "freshness_lag_s":
        return f"{value / 60:,.0f} min" if value else "0"
    if column == "computed_at":
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value)


def so_far(row: dict[str, Any]) -> bool:
    """True for a partition captured before its data became final (a session still trading):
    its completeness is of what had closed by the capture, not of the whole day."""
    captured, final = row.get("captured_at"), row.get("final_at")
    return row.get("state") != "failed" and None not in (captured, final) and captured < final


def failed_share(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """What a failed partition holds, never "100 %": a partition built whole from a failed
    input (its reason "input <dataset> FAILED: …") holds that input's share, from the input's
    row among `rows` when shown, else only the word FAILED."""
    share = row.get("completeness")
    named = re.match(r"^input (\S+) FAILED", row.get("reason") or "")
    if not named:
        return "FAILED" if share is None else f"{share:.1%} held"
    if share is not None and share < 1:
        return f"{share:.1%} held"
    if named:
        source = next(
            (
                r
                for r in rows
                if r["dataset"] == named.group(1)
                and r["symbol"] == row["symbol"]
                and r["trade_date"] == row["trade_date"]
                and r["state"] == "failed"
            ),
            None,
        )
        if source is not None and source.get("completeness") is not None:
            return f"{source['completeness']:.1%} held (input)"
    return "FAILED"


def _table(rows: pl.DataFrame, console: Console) -> None:
    from rich.table import Table

    table = Table(title="Readiness")
    for header, _ in SHOWN:
        table.add_column(header, no_wrap=header in ("dataset", "trade date", "capture"))
    every = rows.to_dicts()
    for row in every:
        cells = [_cell(column, row[column]) for _, column in SHOWN]
        if so_far(row):
            cells[5] += " so far"
        elif row["state"] == "failed":
            cells[5] = failed_share(row, every)
        color = BADGES.get(row["state"])
        cells[3] = f"[{color}]{cells[3].upper()}[/]" if color else cells[3]
        table.add_row(*cells)
    console.print(table)
    if rows.is_empty():
        console.print("nothing judged yet in this range: `market-spine process` computes it.")


def readiness(
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Only these datasets (comma-separated), e.g. normalized/futures_bars_1m."
        ),
    ] = None,
    symbol: Annotated[
        str | None, typer.Option(help="Only these symbols (comma-separated): CL, SPX, ...")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First trade date, e.g. 2024-03-05.")] = None,
    end: Annotated[str | None, typer.Option(help="Last trade date (inclusive).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per dataset, symbol and trade date: certification, completeness, anomalies, last compute
    time, capture id and freshness lag — from the summary kept as partitions are computed."""
    from market_spine.client import Spine

    with command_run(dagster=False):
        rows = Spine(settings=settings_from_env(), warn_empty=False).readiness(
            dataset, symbol, start, end
        )
        print_rows(rows, as_json, lambda shown: _table(rows, shown))
