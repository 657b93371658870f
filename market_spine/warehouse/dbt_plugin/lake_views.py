"""Persistent DuckDB views over the Delta lake: `<layer>.<name>` reads exactly the Parquet files of
the table's latest snapshot.

Why not dbt-duckdb's `delta` plugin: it registers a pyarrow dataset on the dbt process's
connection and creates `CREATE VIEW src AS SELECT * FROM <registered name>`. That view is stored
in the DuckDB file but its target exists only inside that process, so every staging view is
broken for any later reader (notebook, API, analyst); `materialization: table` instead copies
each whole table into DuckDB on every build, which defeats incremental models. Views over
`read_parquet([files of the snapshot])` are plain SQL, survive the process, keep Delta's
semantics (only committed, non-removed files) and scan with DuckDB's own Parquet reader,
several times faster than through pyarrow (see market_spine/lake/sql.py).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

from market_spine.certification.readiness import READINESS_VIEW, current_sql
from market_spine.certification.tables import READINESS_LOG
from market_spine.errors import HistoryPruned, InvalidInput
from market_spine.lake.arrow import empty_table
from market_spine.lake.journal import JOURNALED_AT, journal_apart
from market_spine.lake.reader import Snapshot
from market_spine.lake.sql import attach, lost_table_sql, view_sql
from market_spine.lake.store import Lake
from market_spine.warehouse.paths import SOURCES_FILE


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def empty_sql(conn: duckdb.DuckDBPyConnection, schema: pa.Schema) -> str:
    """A SELECT with the schema's columns and DuckDB types and no rows."""
    conn.register("_spine_empty", empty_table(schema))
    try:
        described = conn.execute("DESCRIBE SELECT * FROM _spine_empty").fetchall()
    finally:
        conn.unregister("_spine_empty")
    columns = ", ".join(f"CAST(NULL AS {kind}) AS {_ident(name)}" for name, kind, *_ in described)
    return f"SELECT {columns} WHERE false"


def declared_sources(path: Path = SOURCES_FILE) -> dict[str, dict[str, str]]:
    """Each dbt source table (`<layer>/<table>`) with its columns' DuckDB types, as the
    generated sources file declares them."""
    # libyaml's loader: the file is large, and the pure-Python one took a second of each build.
    document = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    return {
        f"{source['schema']}/{table['name']}": {c["name"]: c["data_type"] for c in table["columns"]}
        for source in document["sources"]
        for table in source["tables"]
    }


def typed_empty_sql(columns: dict[str, str]) -> str:
    """A SELECT with these columns and DuckDB types and no rows."""
    body = ", ".join(f"CAST(NULL AS {kind}) AS {_ident(name)}" for name, kind in columns.items())
    return f"SELECT {body} WHERE false"


def with_declared_columns(body: str, held: list[str], declared: dict[str, str]) -> str:
    """`body` with each column its source `declared` (name: DuckDB type) and its table does not
    hold yet as NULL: a table written before a column was added to its schema (it gains it at
    its next write) still reads as its source says, so the models over it build."""
    missing = [(name, kind) for name, kind in declared.items() if name not in held]
    if not missing:
        return body
    nulls = ", ".join(f"CAST(NULL AS {kind}) AS {_ident(name)}" for name, kind in missing)
    return f"SELECT *, {nulls} FROM ({body})"


def refresh_views(
    conn: duckdb.DuckDBPyConnection, lake: Lake, as_of: datetime | None = None
) -> dict[str, int | None]:
    """Create or replace one view per lake table, and an empty, typed view for each declared
    source the lake does not hold yet (a home that never loaded options, a new home's check
    results), so the warehouse builds on whatever a home has loaded; and `operations.readiness`,
    readiness as every reader sees it, over the readiness log. A company table's view masks the
    personal-data columns its catalog entry names (the package's datasets and those of homes
    registered in this process, `company.home_defs.use_home`); a company table with no entry
    gets no view.

    With `as_of` (aware), each view reads its table's version current at that instant, and a
    table first written after it counts as not held yet; HistoryPruned when maintenance pruned
    the version a table had then.

    A lake on object storage registers its filesystem with `conn` (its views read `s3://`
    files; every later reader of the warehouse registers it too, see warehouse/reading.py).

    Returns each dataset's snapshot version (None for a placeholder), for logs and tests.
    """
    attach(conn, lake.storage)
    versions: dict[str, int | None] = {}
    sources = declared_sources()
    listed = lake.datasets()
    for dataset in listed:
        found = _snapshot(lake, dataset, as_of)
        if found is None:
            continue
        snapshot, cutoff = found
        names = [c for c in snapshot.schema.names if c != JOURNALED_AT]
        body = _masked(
            dataset,
            view_sql(snapshot, cutoff) or empty_sql(conn, journal_apart(snapshot.schema)),
        )
        if body is not None:
            body = with_declared_columns(body, names, sources.get(dataset, {}))
        if body is None:
            _drop(conn, dataset)
            continue
        _create(conn, dataset, body)
        versions[dataset] = snapshot.version
    for dataset, damage in lake.lost(listed).items():
        # A lost table is damage, not a table not written yet: models over it fail with it.
        _create(conn, dataset, lost_table_sql(damage, sources.get(dataset)))
        versions[dataset] = None
    for dataset, columns in sources.items():
        if dataset not in versions:
            _create(conn, dataset, typed_empty_sql(columns))
            versions[dataset] = None
    if READINESS_LOG in versions:
        layer, log = READINESS_LOG.split("/")
        current = current_sql(f"{_ident(layer)}.{_ident(log)}")
        conn.execute(f"CREATE OR REPLACE VIEW {_ident(layer)}.{READINESS_VIEW} AS {current}")
    return versions


def _snapshot(
    lake: Lake, dataset: str, as_of: datetime | None
) -> tuple[Snapshot, datetime | None] | None:
    """The table's latest snapshot, or the one a read at `as_of` starts from with the instant
    its journaled rows must not pass (`Lake.reading`); None: written after `as_of`."""
    if as_of is None:
        return lake.snapshot(dataset), None
    try:
        return lake.reading(dataset, as_of)
    except HistoryPruned:
        raise
    except InvalidInput:
        return None  # first written after `as_of`


def _masked(dataset: str, body: str) -> str | None:
    """A company table's view with its personal data masked: the warehouse serves analysts
    without the `pii` scope, so no view, staging model or mart of it holds PII in clear. None
    for a company table this process knows no declaration of (a home's dataset whose file was
    not read, or was removed): which of its columns are personal is unknown, so it gets no
    view at all."""
    from market_spine.company.catalog import company_spec
    from market_spine.company.masking import scoped_view_sql
    from market_spine.company.tables import is_company_table

    spec = company_spec(dataset)
    if spec is None:
        return None if is_company_table(dataset) else body
    if not spec.pii:
        return body
    return scoped_view_sql([(c.name, c.dtype) for c in spec.columns], dict(spec.pii), body)


def _drop(conn: duckdb.DuckDBPyConnection, dataset: str) -> None:
    """Remove the view of `dataset` an earlier build may have left in the database file."""
    layer, name = dataset.split("/")
    conn.execute(f"DROP VIEW IF EXISTS {_ident(layer)}.{_ident(name)}")


def _create(conn: duckdb.DuckDBPyConnection, dataset: str, body: str) -> None:
    layer, name = dataset.split("/")
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(layer)}")
    conn.execute(f"CREATE OR REPLACE VIEW {_ident(layer)}.{_ident(name)} AS {body}")
