"""Which personal-data columns of which company tables a SQL query reads, so a clear read
through SQL is audited like one through the API: from DuckDB's parse tree of the query
(`json_serialize_sql`), every table it names and every column it names or takes with a `*`.
A relation named where a value goes (`select c from company_clients c`, `to_json(c)`) is its
whole row, read like a `*`; and the columns DuckDB's plan scans of a company table count too,
however the query spells them (`#2`).

It errs towards naming more: a column named anywhere in the query counts for every table the
query reads, a view the reader made is read through its own query, and a statement DuckDB
cannot serialize (anything but a SELECT: `CREATE TABLE … AS`, say) counts every personal-data
column of each company table whose name appears in its text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
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


def _relations(tree: Any) -> set[str]:
    """Every name a query gives a relation (lower case): tables, their aliases, subqueries'
    aliases and common table expressions."""
    found: set[str] = set()
    for node in _nodes(tree):
        kind = node.get("type")
        if kind in ("BASE_TABLE", "SUBQUERY", "TABLE_FUNCTION") and node.get("alias"):
            found.add(str(node["alias"]).lower())
        if kind == "BASE_TABLE":
            found.add(str(node.get("table_name", "")).lower())
        for cte in (node.get("cte_map") or {}).get("map") or []:
            found.add(str(cte.get("key", "")).lower())
    return found


def _names(tree: Any) -> _Names:
    found = _Names()
    relations = _relations(tree)
    for node in _nodes(tree):
        kind = node.get("type")
        if kind == "BASE_TABLE":
            table = str(node.get("table_name", "")).lower()
            schema = str(node.get("schema_name", "")).lower()
            found.tables.add(f"{schema}.{table}" if schema else table)
        elif kind == "COLUMN_REF" and node.get("column_names"):
            last = str(node["column_names"][-1]).lower()
            found.columns.add(last)
            if last in relations:
                # A relation's name as a value is its whole row (`select c`, `to_json(c)`):
                # it reads every column, as a `*` does.
                found.stars.append(set())
        elif kind in ("STAR", "COLUMNS"):
            found.stars.append({str(c).lower() for c in node.get("exclude_list") or []})
    return found


def _parsed(con: duckdb.DuckDBPyConnection, query: str) -> _Names | None:
    """The names `query` holds, None when DuckDB cannot serialize it."""
    [[text]] = con.execute("select json_serialize_sql(?)", [query]).fetchall()
    tree = json.loads(text)
    return None if tree.get("error") else _names(tree)


def _in_text(name: str, query: str) -> bool:
    """Whether `query`'s text names the table `name` (not as part of a longer name)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", query, re.IGNORECASE) is not None


def named_tables(con: duckdb.DuckDBPyConnection, query: str, names: Collection[str]) -> set[str]:
    """Which of the table `names` (lower case, bare or `schema.table`) `query` reads: from its
    parse tree, or for a statement DuckDB cannot serialize, its text."""
    parsed = _parsed(con, query)
    if parsed is None:
        return {n for n in names if _in_text(n, query)}
    return {n for n in names if n in parsed.tables}


def _through_views(
    con: duckdb.DuckDBPyConnection, names: _Names, ours: Collection[str], depth: int = 8
) -> _Names:
    """`names` with those of the views it reads that the reader made (not in `ours`), and
    theirs in turn."""
    seen = set(ours)
    frontier = [t for t in names.tables if t not in seen]
    while frontier and depth:
        depth -= 1
        found = []
        for table in frontier:
            seen.add(table)
            view = table.rsplit(".", 1)[-1]
            rows = con.execute(
                "select sql from duckdb_views() where not internal and lower(view_name) = ?",
                [view],
            ).fetchall()
            for (text,) in rows:
                inner = _parsed(con, text.rstrip().rstrip(";").split(" AS ", 1)[-1])
                if inner is None:
                    continue
                names.tables |= inner.tables
                names.columns |= inner.columns
                names.stars += inner.stars
                found += [t for t in inner.tables if t not in seen]
        frontier = found
    return names


def _scanned(con: duckdb.DuckDBPyConnection, query: str) -> dict[str, set[str]]:
    """The columns (lower case) each table (`schema.table`, lower case) is scanned for in the
    plan DuckDB binds for `query`, which no spelling of a column hides (`#2`, `row(c.*)`);
    empty when DuckDB cannot plan it."""
    try:
        [(_, text)] = con.execute(f"EXPLAIN (FORMAT JSON) {query}").fetchall()
    except (duckdb.Error, ValueError):
        return {}
    found: dict[str, set[str]] = {}
    for node in _nodes(json.loads(text)):
        info = node.get("extra_info")
        if not isinstance(info, dict) or "Table" not in info:
            continue
        table = ".".join(str(info["Table"]).lower().split(".")[-2:])
        projected = info.get("Projections") or []
        columns = [projected] if isinstance(projected, str) else projected
        found.setdefault(table, set()).update(str(c).strip().lower() for c in columns if c)
    return found


def pii_read(
    con: duckdb.DuckDBPyConnection,
    query: str,
    tables: Mapping[str, DatasetSpec],
    ours: Collection[str] = (),
    rows: int = 1,
) -> dict[str, list[str]]:
    """The personal-data columns `query` reads, by company table (its catalog name), for
    `tables`: the SQL names a company table has (lower case) to its entry; `ours` are the
    names (lower case) of the views the platform made, which need not be read through. A
    SELECT that returned no `rows` read nothing; any other statement may have kept what it
    read (a table made from a query), whatever it returned."""
    names = _parsed(con, query)
    scanned: dict[str, set[str]] = {}
    if names is not None:
        if not rows:
            return {}
        names = _through_views(con, names, {*tables, *ours})
        scanned = _scanned(con, query)
    read: dict[str, list[str]] = {}
    for sql_name, spec in tables.items():
        pii = [column for column, _ in spec.pii]
        if not pii:
            continue
        if names is None:
            if _in_text(sql_name, query):
                read.setdefault(spec.name, pii)
            continue
        columns = {c for c in pii if c.lower() in scanned.get(sql_name, ())}
        if sql_name not in names.tables and not columns:
            continue
        columns |= {c for c in pii if c.lower() in names.columns}
        columns |= {c for c in pii for left_out in names.stars if c.lower() not in left_out}
        if columns:
            already = set(read.get(spec.name, ()))
            read[spec.name] = [c for c in pii if c in columns | already]
    return read
