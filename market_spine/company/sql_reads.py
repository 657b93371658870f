"""Which personal-data columns of which company tables a SQL query reads, so a clear read
through SQL is audited like one through the API: from DuckDB's parse tree of the query
(`json_serialize_sql`), every table it names and every column it names or takes with a `*`.

It errs towards naming more: a column named anywhere in the query counts for every table the
query reads, and a statement DuckDB cannot serialize (anything but a SELECT) counts every
personal-data column of each company table whose name appears in its text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb

from market_spine.catalog.vocabulary import DatasetSpec


@dataclass
class _Names:
    """What a parse tree names: tables (lower case, bare and `schema.table`), columns (lower
    case, the last part of each reference) and the columns each `*` leaves out."""

    tables: set[str] = field(default_factory=set)
    columns: set[str] = field(default_factory=set)
    stars: list[set[str]] = field(default_factory=list)


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _names(tree: Any) -> _Names:
    found = _Names()
    for node in _nodes(tree):
        kind = node.get("type")
        if kind == "BASE_TABLE":
            table = str(node.get("table_name", "")).lower()
            schema = str(node.get("schema_name", "")).lower()
            found.tables.add(f"{schema}.{table}" if schema else table)
        elif kind == "COLUMN_REF" and node.get("column_names"):
            found.columns.add(str(node["column_names"][-1]).lower())
        elif kind in ("STAR", "COLUMNS"):
            found.stars.append({str(c).lower() for c in node.get("exclude_list") or []})
    return found


def _parsed(con: duckdb.DuckDBPyConnection, query: str) -> _Names | None:
    """The names `query` holds, None when DuckDB cannot serialize it."""
    [[text]] = con.execute("select json_serialize_sql(?)", [query]).fetchall()
    tree = json.loads(text)
    return None if tree.get("error") else _names(tree)


def pii_read(
    con: duckdb.DuckDBPyConnection, query: str, tables: Mapping[str, DatasetSpec]
) -> dict[str, list[str]]:
    """The personal-data columns `query` reads, by company table (its catalog name), for
    `tables`: the SQL names a company table has (lower case) to its entry."""
    names = _parsed(con, query)
    read: dict[str, list[str]] = {}
    for sql_name, spec in tables.items():
        pii = [column for column, _ in spec.pii]
        if not pii:
            continue
        if names is None:
            if re.search(rf"(?<![\w.]){re.escape(sql_name)}(?!\w)", query, re.IGNORECASE):
                read.setdefault(spec.name, pii)
            continue
        if sql_name not in names.tables:
            continue
        columns = {c for c in pii if c.lower() in names.columns}
        columns |= {c for c in pii for left_out in names.stars if c.lower() not in left_out}
        if columns:
            already = set(read.get(spec.name, ()))
            read[spec.name] = [c for c in pii if c in columns | already]
    return read
