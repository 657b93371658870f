"""Fetching a company dataset's new rows from its source: a drop folder of CSV/Parquet files,
a PostgreSQL table or query past an incremental cursor, or a paged HTTP JSON API (in
`http_source`). Each fetch is one capture: its rows, the bytes that carried them (hashed into
the capture's provenance) and the request that produced it."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from market_spine.company.config import DatasetConfig, FilesSource, PostgresSource
from market_spine.company.partitions import utc_today
from market_spine.errors import InvalidInput
from market_spine.security.tenants import TENANT_PATTERN, tenant_problem

#: A file capture's request names the blank lines it left out under this key.
BLANK_LINES = "blank_lines_left_out"


@dataclass(frozen=True)
class Fetched:
    """One capture's rows (declared columns, declared dtypes), its payload bytes, the request
    that produced it (JSON-ready) and the source's label."""

    rows: pl.DataFrame
    payload: bytes
    request: dict[str, Any] = field(default_factory=dict)
    source: str = "file"


def conformed(config: DatasetConfig, frame: pl.DataFrame, where: str) -> pl.DataFrame:
    """`frame` as the declared columns and dtypes; InvalidInput naming the missing column or
    the value that does not parse, and where it came from."""
    missing = [c for c in config.dtypes if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{where} has no column {missing[0]!r} that {config.name} declares: add it to the "
            f"source or remove it from the dataset's columns (found: {', '.join(frame.columns)})"
        )
    columns = [
        _parsed(pl.col(name), frame.schema[name], dtype).alias(name)
        for name, dtype in config.dtypes.items()
    ]
    lenient = frame.select(
        _parsed(pl.col(n), frame.schema[n], t, strict=False).alias(n)
        for n, t in config.dtypes.items()
    )
    for name in config.dtypes:
        failed = frame[name].is_not_null() & lenient[name].is_null()
        if failed.any():
            raise InvalidInput(_cast_failure(config, frame, name, failed, where))
    try:
        typed = frame.select(columns)
    except pl.exceptions.PolarsError:
        raise InvalidInput(
            f"{where}: a value does not fit {config.name}'s declared types; fix the "
            "source rows or the column's `type`"
        ) from None
    _refuse_tenantless(config, typed, where)
    _refuse_bad_tenants(config, typed, where)
    _refuse_outside_partitions(config, typed, where)
    return typed


def _refuse_outside_partitions(config: DatasetConfig, rows: pl.DataFrame, where: str) -> None:
    """InvalidInput when a row of a daily dataset falls on a business date it has no partition
    for (before `partitioning.start` yet inside the retention, or after today): kept in the raw
    captures, such a row would fail every later build of the silver table, so the capture is
    refused whole."""
    column, start = config.partitioning.column, config.partitioning.start
    if config.partitioning.kind != "daily" or column is None or start is None:
        return
    today = utc_today()
    dates = rows[column].dt.date()
    early = dates < start
    if config.retention_days is not None:
        # Rows past the retention are left out of the capture anyway (`within_retention`).
        early &= dates >= today - timedelta(days=config.retention_days)
    outside = early | (dates > today)
    if not outside.fill_null(False).any():
        return
    found = outside.fill_null(False).arg_true().to_list()
    numbers = _data_rows(found)
    raise InvalidInput(
        f"{where}: {len(found)} of {rows.height} rows of {config.name} have a {column!r} whose "
        f"business date is before the dataset's partitioning.start ({start}) or after today "
        f"({today}), in data row(s) {numbers}; nothing of this capture was written: fix those "
        "rows in the source, or move `partitioning.start` earlier, and run again"
    )


def _refuse_tenantless(config: DatasetConfig, rows: pl.DataFrame, where: str) -> None:
    """InvalidInput when a row of a tenant-split dataset names no tenant (null or blank): it
    would belong to no tenant's view, or match a key bound to an empty tenant, so the capture
    is refused whole (nothing of it is written) until the source gives every row its tenant."""
    tenant = config.tenant_column
    if tenant is None:
        return
    values = rows[tenant]
    blank = values.is_null()
    if values.dtype == pl.String():
        blank |= values.str.strip_chars().str.len_chars().fill_null(0) == 0
    if not blank.any():
        return
    found = blank.arg_true().to_list()
    numbers = _data_rows(found)
    raise InvalidInput(
        f"{where}: {len(found)} of {rows.height} rows of {config.name} have no tenant (column "
        f"{tenant!r}, the dataset's tenant_column, is empty) in data row(s) {numbers}; nothing "
        "of this capture was written: give each row its tenant in the source and run again"
    )


def _refuse_bad_tenants(config: DatasetConfig, rows: pl.DataFrame, where: str) -> None:
    """InvalidInput when a row's tenant is not a tenant name as keys are bound to (spaces
    around it, upper case, ...; `security.tenants`): such a row would sit under a tenant no
    key can name, unreadable and unnoticed, so the capture is refused whole."""
    tenant = config.tenant_column
    if tenant is None or rows[tenant].dtype != pl.String():
        return
    values = rows[tenant]
    bad = values.is_not_null() & ~values.str.contains(TENANT_PATTERN).fill_null(True)
    if not bad.any():
        return
    found = bad.arg_true().to_list()
    problems = "; ".join(
        dict.fromkeys(tenant_problem(v) or "" for v in values.filter(bad).head(5).to_list())
    )
    raise InvalidInput(
        f"{where}: {len(found)} of {rows.height} rows of {config.name} have a tenant (column "
        f"{tenant!r}) that is not a tenant name, in data row(s) {_data_rows(found)}: "
        f"{problems}; nothing of this capture was written: fix those rows in the source and "
        "run again"
    )


def _parsed(
    column: pl.Expr, source: pl.DataType, dtype: pl.DataType, *, strict: bool = True
) -> pl.Expr:
    """`column` (of dtype `source`) parsed or cast to the declared `dtype`; with `strict`
    False a value that does not parse becomes null instead of raising."""
    if dtype == pl.Datetime("us", "UTC") and source == pl.String():
        # Values that do not parse are found row by row beforehand (`_cast_failure`).
        return _timestamps(column)
    elif dtype == pl.Date() and source == pl.String():
        column = column.str.to_date(strict=strict)
    elif dtype == pl.Boolean() and source == pl.String():
        flag = column.str.to_lowercase().is_in(["true", "t", "1", "yes"])
        column = pl.when(column.is_null()).then(None).otherwise(flag)
    return column.cast(dtype, strict=strict)


#: The ISO 8601 forms a timestamp value is read in, after a space between date and time
#: becomes `T` and a time without seconds gets `:00`: with a zone (`Z`, `+02:00`, `+0200`,
#: `+02`), converted to UTC; without one, read as UTC (a `timestamp` column holds UTC times).
_ZONED = "%Y-%m-%dT%H:%M:%S%.f%#z"
_ZONELESS = "%Y-%m-%dT%H:%M:%S%.f"
#: The whole shape of an accepted value: nothing else reaches a parser, so no value is ever
#: read by a guessed format (a guess reads `01/12/2026` day first or month first depending on
#: the other values of the file).
_ISO_SHAPE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)?$"
#: How to write a timestamp value, for the message of one that does not parse.
TIMESTAMP_FORMS = (
    "ISO 8601 such as 2026-11-24T09:15:00Z or 2026-11-24T11:15:00+02:00 (converted to UTC); "
    "a time without a zone is read as UTC; other forms (01/12/2026 09:00, 2026/11/27, "
    "20261127T100000) are refused because their day and month are ambiguous"
)


def _timestamps(column: pl.Expr) -> pl.Expr:
    """Text timestamps as UTC: each value read on its own against the ISO 8601 forms only, so
    a file may mix `Z`, offsets and zone-less UTC times, and whether a value is accepted never
    depends on the others; a value of none of these forms becomes null (and is refused by
    `conformed`)."""
    text = (
        column.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        .str.replace(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})($|[Z+-])", "${1}:00${2}")
    )
    iso = text.str.contains(_ISO_SHAPE)
    parsed = pl.coalesce(
        text.str.to_datetime(_ZONED, time_zone="UTC", time_unit="us", strict=False),
        text.str.to_datetime(_ZONELESS, time_unit="us", strict=False).dt.replace_time_zone("UTC"),
    )
    return pl.when(iso).then(parsed).otherwise(None)


def _data_rows(found: list[int]) -> str:
    """The first ten of 0-based row indexes as 1-based data row numbers (`2, 5, …`)."""
    return ", ".join(str(r + 1) for r in found[:10]) + (", …" if len(found) > 10 else "")


def _cast_failure(
    config: DatasetConfig, frame: pl.DataFrame, name: str, failed: pl.Series, where: str
) -> str:
    """The message for values of column `name` that do not fit its declared type: file,
    column, type, count and 1-based data row numbers; the values themselves only when the
    column is not PII, so a message never carries personal data into logs."""
    rows = failed.arg_true().to_list()
    numbers = _data_rows(rows)
    declared = next(c.type for c in config.columns if c.name == name)
    shown = ""
    if name not in config.pii:
        values = frame[name].filter(failed).head(5).to_list()
        shown = f" ({', '.join(repr(v) for v in values)})"
    forms = f" (write {TIMESTAMP_FORMS})" if declared == "timestamp" else ""
    return (
        f"{where}: column {name!r} of {config.name} is declared {declared} but "
        f"{len(rows)} of {frame.height} values do not parse as one{shown}, in data row(s) "
        f"{numbers}; fix those rows in the source{forms} or the column's `type`"
    )


def fetch_files(
    config: DatasetConfig, source: FilesSource, folder: Path, captured: Collection[str]
) -> list[Fetched]:
    """One capture per file of the drop folder not captured yet (by its SHA-256), oldest name
    first; files that do not parse or conform raise one InvalidInput naming each of them, and
    nothing is captured."""
    drop = source.drop(folder)
    if not drop.is_dir():
        raise InvalidInput(
            f"{config.name}: the drop folder {drop} does not exist: create it or fix "
            "`source.path` (relative to the dataset's folder)"
        )
    fetched: list[Fetched] = []
    refused: list[str] = []
    for path in sorted(drop.glob(source.pattern)):
        if not path.is_file():
            continue
        if not path.resolve().is_relative_to(drop):
            raise InvalidInput(
                f"{config.name}: {path.name} in the drop folder links to a file outside it: "
                "copy the file into the folder instead of linking it; nothing was captured"
            )
        payload = path.read_bytes()
        if hashlib.sha256(payload).hexdigest() in captured:
            continue
        # Every bad file is named in one refusal: an owner fixing a folder of exports learns
        # of all of them from one run, not one per run.
        try:
            fetched.append(_fetch_file(config, source, path, payload))
        except InvalidInput as exc:
            refused.append(str(exc))
    if len(refused) == 1:
        raise InvalidInput(refused[0])
    if refused:
        raise InvalidInput(
            f"{config.name}: {len(refused)} files of the drop folder {drop} were refused; "
            "nothing was captured. Fix each, then run again:\n"
            + "\n".join(f"- {problem}" for problem in refused)
        )
    return fetched


def _fetch_file(config: DatasetConfig, source: FilesSource, path: Path, payload: bytes) -> Fetched:
    """One drop file's capture; InvalidInput when it does not parse or conform."""
    request: dict[str, Any] = {"file": path.name, "format": source.format}
    records = payload
    if source.format == "csv":
        records, blank = _without_blank_lines(payload)
        if blank:
            request[BLANK_LINES] = blank
        _refuse_ragged(payload, path)
    try:
        if source.format == "csv":
            frame = pl.read_csv(io.BytesIO(records), infer_schema=False)
        else:
            frame = pl.read_parquet(io.BytesIO(records))
    except pl.exceptions.PolarsError as exc:
        raise InvalidInput(f"{path} is not a readable {source.format} file: {exc}") from None
    return Fetched(conformed(config, frame, str(path)), payload, request, "file")


def _without_blank_lines(payload: bytes) -> tuple[bytes, list[int]]:
    """A CSV file's bytes less its blank lines (empty, whitespace-only or separator-only,
    with any line ending), and their line numbers: such a line is not a record, and read as
    one it would be a row of nulls that names no tenant. Lines inside a quoted value stay."""
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        return payload, []  # polars names the encoding problem
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines)
    kept: list[str] = []
    blank: list[int] = []
    start = 0
    for fields in reader:
        end = reader.line_num
        if all(not value.strip() for value in fields):
            blank += range(start + 1, end + 1)
        else:
            kept += lines[start:end]
        start = end
    if not blank:
        return payload, []
    return "".join(kept).encode(), blank


def blank_lines_note(skipped: dict[str, list[int]]) -> str:
    """The sentence naming the blank lines left out of each file, by line number."""
    parts = [f"{name} line(s) {', '.join(map(str, lines))}" for name, lines in skipped.items()]
    return f"blank lines are not records and were left out: {'; '.join(parts)}"


#: How many ragged lines of one file a refusal names; the rest are counted.
RAGGED_LINES_NAMED = 20


def _refuse_ragged(payload: bytes, path: Path) -> None:
    """InvalidInput naming every line of a CSV file whose field count differs from its
    header's (the first `RAGGED_LINES_NAMED`, then how many more), each with its count: polars
    would fill a short row's last fields with nulls and refuse a long one without saying
    where, so the file is refused whole, and its owner fixes it in one pass."""
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        return  # polars names the encoding problem
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return
    ragged: list[str] = []
    for fields in reader:
        blank = all(not value.strip() for value in fields)
        if not blank and len(fields) != len(header):
            ragged.append(f"line {reader.line_num} has {len(fields)} fields")
    if not ragged:
        return
    named = "; ".join(ragged[:RAGGED_LINES_NAMED])
    more = len(ragged) - RAGGED_LINES_NAMED
    if more > 0:
        named += f"; and {more} more line{'s' if more > 1 else ''}"
    count = "1 line has" if len(ragged) == 1 else f"{len(ragged)} lines have"
    raise InvalidInput(
        f"{path}: {count} a field count other than the header's: the header has "
        f"{len(header)} ({', '.join(header)}); {named}; nothing was captured: give each row "
        "one value per header column (quote a value holding a comma) and run again"
    )


def _pg_text(name: str, type_: str) -> str:
    """A select-list item sending column `name` as text the declared type parses from."""
    quoted = f'"{name}"'
    if type_ == "timestamp":
        iso = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''
        return f"to_char({quoted} at time zone 'UTC', {iso}) as {quoted}"
    if type_ == "bool":
        return f"case when {quoted} then 'true' when not {quoted} then 'false' end as {quoted}"
    return quoted


def fetch_postgres(
    config: DatasetConfig,
    source: PostgresSource,
    cursor: Any,
    at_cursor: pl.DataFrame | None = None,
) -> list[Fetched]:
    """The rows at or past `cursor` (all rows when None), ordered by the cursor column, as one
    capture, less the rows identical to `at_cursor` (those already captured at the cursor
    value). The boundary value is read again because rows committed after the last capture
    may carry the same cursor value as its newest row; reading only rows strictly past it
    would lose them. The rows travel as `COPY … TO STDOUT` CSV, PostgreSQL's fastest way out,
    and those bytes are the capture's payload."""
    import psycopg

    dsn = os.environ.get(source.dsn_env)
    if not dsn:
        raise InvalidInput(
            f"{config.name}: environment variable {source.dsn_env} (source.dsn_env) is not set: "
            "set it to the PostgreSQL connection string"
        )
    base = source.query or f"select * from {source.table}"
    columns = ", ".join(_pg_text(c.name, c.type) for c in config.columns)
    sql = f"select {columns} from ({base}) as src"
    params: list[Any] = []
    if cursor is not None:
        sql += f' where src."{source.cursor}" >= %s'
        params.append(cursor)
    sql += f' order by src."{source.cursor}"'
    payload = bytearray()
    copy_sql = f"copy ({sql}) to stdout with (format csv, header true)"
    with psycopg.connect(dsn) as con, con.cursor() as cur, cur.copy(copy_sql, params) as copy:
        for block in copy:
            payload += block
    frame = pl.read_csv(bytes(payload), infer_schema=False)
    if frame.height == 0:
        return []
    rows = conformed(config, frame, f"{config.name}'s PostgreSQL source")
    read = rows.height
    if at_cursor is not None and at_cursor.height:
        seen = at_cursor.select(rows.columns).cast(rows.schema).unique()
        rows = rows.join(seen, on=rows.columns, how="anti", nulls_equal=True)
    if rows.height == 0:
        return []
    request = {
        "cursor_column": source.cursor,
        "from": cursor,
        "rows": rows.height,
        "already_captured": read - rows.height,
    }
    return [Fetched(rows, bytes(payload), request, "postgres")]
