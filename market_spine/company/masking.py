"""Masking personal data and scoping rows to a tenant, the same way on every path: frames
(the API, Spine opened with a key) and SQL (masked views, the warehouse's staging models).

`hash` replaces a value by the SHA-256 (hex) of its text, so masked columns still join and
count distinct; `redact` replaces it by null. The two paths agree: DuckDB's `sha256` of the
text equals `hashlib.sha256` of its UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import polars as pl

from market_spine.errors import InvalidInput


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def masked(frame: pl.DataFrame, pii: Mapping[str, str]) -> pl.DataFrame:
    """`frame` with each PII column present masked per its tag (hash or redact)."""
    columns = []
    for name, how in pii.items():
        if name not in frame.columns:
            continue
        if how == "hash":
            columns.append(
                pl.col(name)
                .cast(pl.String)
                .map_elements(_digest, return_dtype=pl.String, skip_nulls=True)
                .alias(name)
            )
        else:
            columns.append(pl.lit(None, dtype=frame.schema[name]).alias(name))
    return frame.with_columns(columns) if columns else frame


#: DuckDB's type of each polars dtype a company table stores (a redacted column keeps its type).
_DUCK_TYPES = {
    pl.String(): "varchar",
    pl.Int64(): "bigint",
    pl.Float64(): "double",
    pl.Boolean(): "boolean",
    pl.Date(): "date",
}


def sql_masked(name: str, how: str | None, dtype: pl.DataType | None) -> str:
    """A select-list item for column `name`: the column, its SHA-256, or a null of its type."""
    quoted = '"' + name.replace('"', '""') + '"'
    if how == "hash":
        return f"sha256(cast({quoted} as varchar)) as {quoted}"
    if how == "redact":
        kind = _DUCK_TYPES.get(dtype, "timestamptz")
        return f"cast(null as {kind}) as {quoted}"
    return quoted


def for_tenant(frame: pl.DataFrame, column: str | None, tenant: str | None) -> pl.DataFrame:
    """Only `tenant`'s rows when the identity is bound to one and the table has tenants."""
    if tenant is None or column is None:
        return frame
    if column not in frame.columns:
        raise InvalidInput(f"the tenant column {column!r} is not among the columns read")
    return frame.filter(pl.col(column) == tenant)


def scoped_view_sql(
    columns: Sequence[tuple[str, pl.DataType | None]],
    pii: Mapping[str, str],
    body: str,
    tenant_column: str | None = None,
    tenant: str | None = None,
) -> str:
    """A SELECT over `body` with the `pii` columns masked and, with a `tenant`, only its rows."""
    select = ", ".join(sql_masked(name, pii.get(name), dtype) for name, dtype in columns)
    where = ""
    if tenant_column and tenant is not None:
        value = tenant.replace("'", "''")
        where = f" WHERE \"{tenant_column}\" = '{value}'"
    return f"SELECT {select} FROM ({body}) AS src{where}"
