"""A Delta snapshot as DuckDB SQL: `read_parquet` over exactly the files of that version.

DuckDB's own multi-threaded Parquet reader is several times faster than scanning a pyarrow
dataset through DuckDB, and reading the file list from our snapshot keeps Delta's semantics
(only committed, not removed, files) without DuckDB's delta extension, which cannot be fetched
offline.
"""

from __future__ import annotations

from market_spine.lake.reader import Snapshot


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def view_sql(snapshot: Snapshot) -> str | None:
    """A SELECT over the snapshot's files in schema column order, or None for an empty table."""
    if not snapshot.files:
        return None
    selects = []
    for group in snapshot.groups.values():
        first = group.files[0]
        columns = []
        for name in snapshot.schema.names:
            if name in snapshot.partition_columns:
                raw = first.partition_raw[name]
                type_ = snapshot.empty.schema[name]
                value = "NULL" if raw is None else _string(raw)
                columns.append(f"CAST({value} AS {_duck_type(str(type_))}) AS {_ident(name)}")
            else:
                columns.append(_ident(name))
        files = ", ".join(_string(f.path) for f in group.files)
        selects.append(
            f"SELECT {', '.join(columns)} FROM read_parquet([{files}], union_by_name = true)"
        )
    return "\nUNION ALL\n".join(selects)


def _duck_type(polars_type: str) -> str:
    return {"String": "VARCHAR", "Date": "DATE", "Int64": "BIGINT", "Int32": "INTEGER"}.get(
        polars_type, "VARCHAR"
    )
