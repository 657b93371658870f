"""What a damaged table covers and the command that rebuilds it, said the same way by reads,
`market-spine verify` and `maintain`.

Derived tables are replaced per block of trade dates, so re-materializing the dates a damaged
file held from the raw captures drops the file and writes its rows again. Raw captures and
check results only ever grow by appends, so a damaged file there is first dropped from the
table, then captured again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

#: Layers whose tables grow only by appends: a re-run adds rows but never drops a bad file.
APPEND_ONLY_LAYERS = ("raw", "quality")
_EPOCH = date(1970, 1, 1)


def day_of(value: Any) -> date | None:
    """A trade date from a file statistic (epoch days), a date, or ISO text; None if unknown."""
    if value is None:
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, int):
        return _EPOCH + timedelta(days=value)
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def describe(partition: Mapping[str, Any], first: date | None, last: date | None) -> str:
    """`symbol=CL, trade dates 2024-03-04..2024-03-08`: what a file's rows cover."""
    parts = [f"{k}={v}" for k, v in partition.items() if k != "trade_date"]
    if first is not None and last is not None:
        parts.append(f"trade dates {first}..{last}" if first != last else f"trade date {first}")
    return ", ".join(parts) or "the whole table"


def domain_of(dataset: str) -> str | None:
    """The `--domain` whose runs write a table, read from its name (the lake never imports a
    domain): futures tables name futures, option tables name options or SPX."""
    name = dataset.split("/")[-1]
    if "futures" in name:
        return "futures"
    if "option" in name or "spx" in name:
        return "options"
    return None


def process_command(
    partition: Mapping[str, Any], first: date | None, last: date | None, dataset: str = ""
) -> str:
    """`market-spine process` over the trade dates, symbol and domain a damaged part covered,
    so the repair reloads only what the damage took."""
    dates = (
        f"--start {first} --end {last}"
        if first is not None and last is not None
        else "--start FIRST --end LAST (the trade dates the table holds)"
    )
    symbol = partition.get("symbol")
    domain = domain_of(dataset)
    return (
        f"market-spine process {dates}"
        + (f" --symbols {symbol}" if symbol else "")
        + (f" --domain {domain}" if domain else "")
    )


def file_repair(
    dataset: str, partition: Mapping[str, Any], first: date | None, last: date | None
) -> str:
    """The commands that rebuild the rows of one damaged data file."""
    rebuild = f"`{process_command(partition, first, last, dataset)}`"
    if dataset.split("/")[0] in APPEND_ONLY_LAYERS:
        return (
            f"drop the damaged file from the table (`market-spine verify {dataset} "
            f"--drop-damaged`), then capture its rows again: {rebuild}"
        )
    return f"re-materialize it from the raw captures: {rebuild}"


def log_repair(table_dir: Path, dataset: str, first: date | None, last: date | None) -> str:
    """The commands that rebuild a table whose log is damaged: start it afresh (what is left
    set aside, its records forgotten), then rebuild it."""
    return (
        f"start the table afresh (`market-spine verify {dataset} --start-afresh` sets what is "
        f"left of {table_dir} aside and forgets its records), then rebuild it from the raw "
        f"captures: `{process_command({}, first, last, dataset)}`"
    )
