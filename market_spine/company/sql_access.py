"""A DuckDB connection opened for an identity (Spine with a key) reads only what its views let
it: anything else DuckDB could reach by name — `read_parquet` of a lake file, `read_csv`,
`glob`, `ATTACH`, `COPY`, an extension — would bypass the masked, tenant-scoped views.

So such a connection is locked once its views exist: external access off, configuration locked,
only the folders of the tables it reads whole (market data, which belongs to no tenant and
holds no personal data) left open for their views' `read_parquet`. A table it reads scoped
(a company table, or a shared table a tenant sees in part) is copied into the connection
already masked and filtered, computed on a private connection it never sees, so neither the
table's files nor the hashing key's pads are within its reach. A company table read in clear
(`pii` scope, no tenant) is copied too, so its every read goes through the audited SQL path.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import duckdb
import polars as pl

from market_spine.certification.tables import READINESS_LOG
from market_spine.company import tenancy
from market_spine.lake.store import Lake
from market_spine.security.identity import Identity

#: What a refused file access answers, instead of DuckDB's bare PermissionException.
LOCKED = (
    "this connection is opened with an API key, so it reads the lake through its views only "
    "(file functions such as read_parquet, read_csv and glob, ATTACH, COPY and extensions are "
    "off): query the views `Spine.tables()` lists"
)

_MARKER = "SELECT 1"
_copies = itertools.count()


def read_whole(dataset: str, identity: Identity) -> bool:
    """Whether `identity`'s view of `dataset` is the table's files as they are: market data
    (declared, no tenant's) that its scope leaves unfiltered. Every other table it may read
    is copied in, scoped."""
    if dataset not in tenancy.tenant_free() or tenancy.refusal(dataset, identity) is not None:
        return False
    return tenancy.view_sql(dataset, _MARKER, identity) == _MARKER


def copy_scoped(
    con: duckdb.DuckDBPyConnection,
    scratch: duckdb.DuckDBPyConnection,
    dataset: str,
    body: str,
    names: Iterable[str],
    identity: Identity,
    lake: Lake,
) -> None:
    """Put `dataset`'s rows as `identity` may see them into `con` as a table under the first
    of `names` (`layer.name`), the others views of it: computed on `scratch` (which holds
    the files' access and the hashing key) over the table's `body`. Readiness is kept to a
    tenant's partitions as `Spine.readiness` keeps it (`reading.readiness_as`)."""
    rows = scratch.execute(tenancy.view_sql(dataset, body, identity)).arrow().read_all()
    if dataset == READINESS_LOG and identity.tenant is not None:
        from market_spine.company.reading import readiness_as

        frame = pl.from_arrow(rows)
        assert isinstance(frame, pl.DataFrame)
        rows = readiness_as(lake, frame, identity).to_arrow()
    first, *others = names
    staged = f"_scoped_{next(_copies)}"
    con.register(staged, rows)
    try:
        con.execute(f"create or replace table {first} as select * from {staged}")
    finally:
        con.unregister(staged)
    for other in others:
        con.execute(f"create or replace view {other} as select * from {first}")


def lock(con: duckdb.DuckDBPyConnection, folders: Iterable[str]) -> None:
    """Turn external access off on `con` but for `folders` (those of the tables it reads
    whole, each with a trailing `/`), and lock its configuration so no query turns it back."""
    allowed = sorted({f.rstrip("/") + "/" for f in folders})
    con.execute("SET allowed_directories = ?", [allowed])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def locked_out(exc: duckdb.Error) -> bool:
    """Whether `exc` is DuckDB refusing a file or setting this lock keeps closed."""
    text = str(exc)
    return isinstance(exc, duckdb.PermissionException) or "configuration has been locked" in text
