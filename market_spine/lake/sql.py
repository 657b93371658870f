"""A Delta snapshot as DuckDB SQL: `read_parquet` over exactly the files of that version.

DuckDB's own multi-threaded Parquet reader is several times faster than scanning a pyarrow
dataset through DuckDB, and reading the file list from our snapshot keeps Delta's semantics
(only committed, not removed, files) without DuckDB's delta extension, which cannot be fetched
offline. A lake on object storage is read the same way: its `s3://` files go through the
lake's fsspec filesystem, registered with the connection (`attach`), since DuckDB cannot fetch
its httpfs extension offline.

A damaged file is never handed to DuckDB (a flipped bit would decode as a wrong price). Its
place in the view is taken by a refusal: rows with its partition values and trade dates whose
every other column is DuckDB's `error()` carrying the LakeDamaged message (file, partition,
repair command), kept only where `error()` is null, which it never is. A query whose filters
on partition columns and trade dates leave the damaged file out never reaches those rows, so
it answers; one that could read a row of it (`count(*)` included) fails with that message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import duckdb

from market_spine.errors import LakeDamaged
from market_spine.lake.arrow import empty_table
from market_spine.lake.integrity import ledger_of
from market_spine.lake.journal import JOURNALED_AT
from market_spine.lake.reader import FileEntry, Snapshot
from market_spine.lake.repair import day_of
from market_spine.lake.storage import Storage

#: The column of a refusal's rows that raises when any row of it is read.
_DAMAGE = "_spine_damaged"
#: The damage each refusal this process wrote raises, by its message (`refused_by`).
_REFUSED: dict[str, LakeDamaged] = {}


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


def view_sql(snapshot: Snapshot, journaled_by: datetime | None = None) -> str | None:
    """A SELECT over the snapshot's files in schema column order, or None for an empty table.
    A journaled table's JOURNALED_AT is left out, as the lake's reads leave it, and with
    `journaled_by` (a read as of a time inside a fold, `Lake.reading`) only rows journaled by
    then are kept.

    Partition values come from the hive-style folders (`symbol=CL/`) with declared types; one
    `read_parquet` over all files scans faster than a UNION ALL per partition. DuckDB reads
    every file, so each passes the lake's integrity checks first; a damaged one is replaced by
    a refusal of its rows (see the module docstring), so the rest of the table stays readable.
    """
    if not snapshot.files:
        return None
    ledger, dataset, _ = ledger_of(snapshot.uri)
    sound: list[FileEntry] = []
    damaged: list[tuple[FileEntry, LakeDamaged]] = []
    for f in snapshot.files:
        try:
            ledger.check_file(dataset, f, past=snapshot.past)
        except LakeDamaged as exc:
            damaged.append((f, exc))
        else:
            sound.append(f)
    columns = ", ".join(_ident(name) for name in snapshot.schema.names)
    parts = [f"SELECT {columns} FROM read_parquet([{_files(sound)}], {_options(snapshot)})"]
    if damaged:
        # Without a sound file the refusal alone gives the view its column types.
        types = None if sound else _duck_types(snapshot)
        refusals = [_refusal_sql(snapshot, f, exc, types) for f, exc in damaged]
        parts = (parts if sound else []) + refusals
    body = " UNION ALL ".join(parts)
    if JOURNALED_AT not in snapshot.schema.names:
        return body
    column = _ident(JOURNALED_AT)
    where = (
        ""
        if journaled_by is None
        else f" WHERE {column} IS NULL OR {column} <= TIMESTAMPTZ '{journaled_by.isoformat()}'"
    )
    return f"SELECT * EXCLUDE ({column}) FROM ({body}){where}"


def _files(files: list[FileEntry]) -> str:
    return ", ".join(_string(f.path) for f in files)


def _options(snapshot: Snapshot) -> str:
    options = "union_by_name = true"
    if snapshot.partition_columns:
        types = ", ".join(
            f"{_string(c)}: {_string(_duck_type(str(snapshot.empty.schema[c])))}"
            for c in snapshot.partition_columns
        )
        options += f", hive_partitioning = true, hive_types = {{{types}}}"
    return options


def _refusal_sql(
    snapshot: Snapshot, f: FileEntry, exc: LakeDamaged, types: dict[str, str] | None
) -> str:
    """The rows of damaged file `f` as a refusal: one row per trade date it covers (one row
    when it has no trade dates), its partition values, and `error(message)` everywhere else."""
    _REFUSED[str(exc)] = exc
    message = _string(str(exc))
    first = day_of(f.mins.get("trade_date", f.partition.get("trade_date")))
    last = day_of(f.maxs.get("trade_date", f.partition.get("trade_date")))
    names = snapshot.schema.names
    dated = "trade_date" in names and first is not None and last is not None
    values = []
    for name in names:
        if name in snapshot.partition_columns:
            kind = _duck_type(str(snapshot.empty.schema[name]))
            raw = f.partition_raw.get(name)
            value = "NULL" if raw is None else _string(raw)
            values.append(f"CAST({value} AS {kind}) AS {_ident(name)}")
        elif name == "trade_date" and dated:
            values.append(f"CAST(d AS DATE) AS {_ident(name)}")
        else:
            value = f"error({message})"
            if types is not None:
                value = f"CAST({value} AS {types[name]})"
            values.append(f"{value} AS {_ident(name)}")
    rows = _days(first, last) if dated else "(SELECT 1) AS t(d)"
    inner = f"SELECT {', '.join(values)}, error({message}) AS {_DAMAGE} FROM {rows}"
    columns = ", ".join(_ident(name) for name in names)
    return f"SELECT {columns} FROM ({inner}) WHERE {_DAMAGE} IS NULL"


def lost_table_sql(damage: LakeDamaged, columns: Mapping[str, str] | None) -> str:
    """A table whose log is gone, as a refusal with its `columns` (name: DuckDB type; None:
    unknown, one column): a query reading any of its rows fails with the damage, as a read
    through the lake does, instead of the table passing for absent or empty."""
    _REFUSED[str(damage)] = damage
    message = _string(str(damage))
    held = dict(columns or {"damaged": "VARCHAR"})
    values = ", ".join(
        f"CAST(error({message}) AS {kind}) AS {_ident(name)}" for name, kind in held.items()
    )
    names = ", ".join(_ident(name) for name in held)
    inner = f"SELECT {values}, error({message}) AS {_DAMAGE} FROM (SELECT 1) AS t(d)"
    return f"SELECT {names} FROM ({inner}) WHERE {_DAMAGE} IS NULL"


def refused_by(error: Exception) -> LakeDamaged | None:
    """The damage behind a DuckDB error raised by a refusal this process wrote, if it is one."""
    text = str(error)
    return next((exc for message, exc in _REFUSED.items() if message in text), None)


def _days(first: date | None, last: date | None) -> str:
    return f"range(DATE '{first}', DATE '{last}' + INTERVAL 1 DAY, INTERVAL 1 DAY) AS t(d)"


def _duck_types(snapshot: Snapshot) -> dict[str, str]:
    """Each column's DuckDB type, as DuckDB reads the table's Arrow schema."""
    with duckdb.connect() as conn:
        relation = conn.from_arrow(empty_table(snapshot.schema))
        pairs = zip(relation.columns, relation.types, strict=True)
        return {name: str(kind) for name, kind in pairs}


def _duck_type(polars_type: str) -> str:
    return {"String": "VARCHAR", "Date": "DATE", "Int64": "BIGINT", "Int32": "INTEGER"}.get(
        polars_type, "VARCHAR"
    )
