"""Frames rendered as the terminal sends them: CSV (`\\r\\n` lines, empty cells for nulls, `NaN`
prices), JSON grouped by contract (or column-oriented), NDJSON (one flat object a line) and an
HTML table; and the empty and NaN fields the null fault mixes into a real answer."""

from __future__ import annotations

import html
import json
import math
import random
from typing import Any

import polars as pl

#: The columns naming a contract: the JSON layout groups rows under them.
CONTRACT_COLUMNS = ("symbol", "strike", "right", "expiration")
#: Columns the null fault leaves alone: what identifies a row and when it was made.
_KEYS = {*CONTRACT_COLUMNS, "timestamp", "created", "date"}
#: Price columns, where the feed sends NaN as well as empty cells.
_PRICES = {"bid", "ask", "open", "high", "low", "close", "price", "vwap"}


def render(frame: pl.DataFrame, fmt: str, grouped: bool, layout: str) -> tuple[bytes, str]:
    """The body and media type of `frame` in format `fmt` (csv, json, ndjson, html)."""
    if fmt == "csv":
        return frame.write_csv(line_terminator="\r\n").encode(), "text/csv"
    if fmt == "ndjson":
        lines = (json.dumps(_clean(row)) for row in frame.iter_rows(named=True))
        return ("\n".join(lines) + "\n").encode(), "application/x-ndjson"
    if fmt == "html":
        head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
        rows = "".join(
            "<tr>"
            + "".join(f"<td>{'' if v is None else html.escape(str(v))}</td>" for v in r)
            + "</tr>"
            for r in frame.iter_rows()
        )
        return f"<table><tr>{head}</tr>{rows}</table>".encode(), "text/html"
    return _json(frame, grouped, layout), "application/json"


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: a NaN price is sent as null."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def _json(frame: pl.DataFrame, grouped: bool, layout: str) -> bytes:
    if layout == "columns":
        columns = {c: [_clean({"v": v})["v"] for v in frame[c].to_list()] for c in frame.columns}
        return json.dumps({"response": columns}).encode()
    if not grouped:
        return json.dumps({"response": [_clean(r) for r in frame.iter_rows(named=True)]}).encode()
    groups: dict[tuple, dict[str, Any]] = {}
    for row in frame.iter_rows(named=True):
        key = tuple(row[c] for c in CONTRACT_COLUMNS)
        entry = groups.get(key)
        if entry is None:
            entry = groups[key] = {"contract": {c: row[c] for c in CONTRACT_COLUMNS}, "data": []}
        entry["data"].append(_clean({k: v for k, v in row.items() if k not in CONTRACT_COLUMNS}))
    return json.dumps({"response": list(groups.values())}).encode()


def with_gaps(frame: pl.DataFrame, rng: random.Random, share: float = 0.05) -> pl.DataFrame:
    """`frame` with about `share` of its value cells emptied (null) and as many prices NaN, as
    the real feed sends them; the keys and stamps of each row stay."""
    n = frame.height
    columns = []
    for name in frame.columns:
        column = frame[name]
        if name in _KEYS:
            columns.append(column)
            continue
        empty = pl.Series([rng.random() < share for _ in range(n)])
        out = pl.when(empty).then(None).otherwise(pl.col(name))
        if name in _PRICES and column.dtype.is_float():
            nan = pl.Series([rng.random() < share for _ in range(n)])
            out = pl.when(nan & ~empty).then(float("nan")).otherwise(out)
        columns.append(frame.select(out.alias(name)).to_series())
    return pl.DataFrame(columns)
