"""A Delta snapshot as DuckDB SQL: `read_parquet` over exactly the files of that version.

DuckDB's own multi-threaded Parquet reader is several times faster than scanning a pyarrow
dataset through DuckDB, and reading the file list from our snapshot keeps Delta's semantics
(only committed, not removed, files) without DuckDB's delta extension, which cannot be fetched
offline. A lake on object storage is read the same way: its `s3://` files go through the
lake's fsspec filesystem, registered with the connection (`attach`), since DuckDB cannot fetch
its httpfs extension offline.
"""

from __future__ import annotations

from typing import Any

from market_spine.lake.integrity import ledger_of
from market_spine.lake.reader import Snapshot
from market_spine.lake.storage import Storage


def attach(conn: Any, storage: Storage) -> None:
    """Let a DuckDB connection read the lake's files: a lake on object storage registers its
    fsspec filesystem (once per connection); a local lake needs nothing."""
    fs = storage.fsspec()
    if fs is not None and not conn.filesystem_is_registered("s3"):
        conn.register_filesystem(fs)


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def view_sql(snapshot: Snapshot) -> str | None:
    """A SELECT over the snapshot's files in schema column order, or None for an empty table.

    Partition values come from the hive-style folders (`symbol=CL/`) with declared types; one
    `read_parquet` over all files scans faster than a UNION ALL per partition. DuckDB reads
    every file, so each passes the lake's integrity checks first (LakeDamaged otherwise).
    """
    if not snapshot.files:
        return None
    ledger, dataset, _ = ledger_of(snapshot.uri)
    for f in snapshot.files:
        ledger.check_file(dataset, f, past=snapshot.past)
    files = ", ".join(_string(f.path) for f in snapshot.files)
    columns = ", ".join(_ident(name) for name in snapshot.schema.names)
    options = "union_by_name = true"
    if snapshot.partition_columns:
        types = ", ".join(
            f"{_string(c)}: {_string(_duck_type(str(snapshot.empty.schema[c])))}"
            for c in snapshot.partition_columns
        )
        options += f", hive_partitioning = true, hive_types = {{{types}}}"
    return f"SELECT {columns} FROM read_parquet([{files}], {options})"


def _duck_type(polars_type: str) -> str:
    return {"String": "VARCHAR", "Date": "DATE", "Int64": "BIGINT", "Int32": "INTEGER"}.get(
        polars_type, "VARCHAR"
    )
