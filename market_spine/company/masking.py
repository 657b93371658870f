"""Masking personal data and scoping rows to a tenant, the same way on every path: frames
(the API, Spine opened with a key) and SQL (masked views, the warehouse's staging models).

`hash` replaces a value by the HMAC-SHA-256 (hex) of its text under the home's key
(`security.pii_hash_key`), so masked columns still join and count distinct within a home, yet
a known value (an email) cannot be confirmed by hashing it without the key; `redact` replaces
it by null. The two paths agree: SQL computes the same HMAC from the key's inner and outer
pads, which each connection holds as session variables (`use_hash_key`), never written into a
view, so a database file keeps no trace of the key (a reader without them sees null).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from market_spine.errors import InvalidInput

#: The session variables holding the HMAC key's inner and outer pads (BLOB) in SQL.
_INNER, _OUTER = "pii_hash_inner", "pii_hash_outer"
_BLOCK = 64  # SHA-256's block size in bytes (RFC 2104)


def digest(value: str, key: bytes) -> str:
    """The masked form of `value`: HMAC-SHA-256 of its UTF-8 text under `key`, in hex."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def use_hash_key(con: Any, key: bytes) -> None:
    """Let `con` (a DuckDB connection) compute masked views' hashes under `key`: its pads as
    session variables, gone with the connection."""
    inner, outer = _pads(key)
    con.execute(f"SET VARIABLE {_INNER} = unhex('{inner.hex()}')")
    con.execute(f"SET VARIABLE {_OUTER} = unhex('{outer.hex()}')")


def masked(frame: pl.DataFrame, pii: Mapping[str, str], key: bytes) -> pl.DataFrame:
    """`frame` with each PII column present masked per its tag (hash under `key`, or
    redact)."""
    columns = []
    for name, how in pii.items():
        if name not in frame.columns:
            continue
        if how == "hash":
            columns.append(
                pl.col(name)
                .cast(pl.String)
                .map_elements(lambda v: digest(v, key), return_dtype=pl.String, skip_nulls=True)
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
    """A select-list item for column `name`: the column, its HMAC-SHA-256 under the key the
    connection holds (`use_hash_key`), or a null of its type."""
    quoted = '"' + name.replace('"', '""') + '"'
    if how == "hash":
        inner = f"sha256(getvariable('{_INNER}') || encode(cast({quoted} as varchar)))"
        return f"sha256(getvariable('{_OUTER}') || unhex({inner})) as {quoted}"
    if how == "redact":
        kind = _DUCK_TYPES.get(dtype, "timestamptz")
        return f"cast(null as {kind}) as {quoted}"
    return quoted


def tenant_value(tenant: str, dtype: pl.DataType | None) -> object | None:
    """A key's `tenant` (always text) in the type of a tenant column of `dtype`, so it
    compares with the column's values; None when it names no value of that type (a
    non-numeric tenant against an integer column), which matches no row."""
    if dtype is not None and dtype.is_integer():
        try:
            return int(tenant)
        except ValueError:
            return None
    return tenant


def for_tenant(frame: pl.DataFrame, column: str | None, tenant: str | None) -> pl.DataFrame:
    """Only `tenant`'s rows when the identity is bound to one and the table has tenants."""
    if tenant is None or column is None:
        return frame
    if column not in frame.columns:
        raise InvalidInput(f"the tenant column {column!r} is not among the columns read")
    value = tenant_value(tenant, frame.schema[column])
    if value is None:
        return frame.head(0)
    return frame.filter(pl.col(column) == value)


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
        value = tenant_value(tenant, dict(columns).get(tenant_column))
        if value is None:
            where = " WHERE FALSE"
        elif isinstance(value, int):
            where = f' WHERE "{tenant_column}" = {value}'
        else:
            where = f" WHERE \"{tenant_column}\" = '{str(value).replace(chr(39), chr(39) * 2)}'"
    return f"SELECT {select} FROM ({body}) AS src{where}"
