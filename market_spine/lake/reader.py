"""Fast reads of Delta tables: a cached file index per version picks the files (by partition,
then by vectorised min/max statistics), and polars reads them with page-index pruning, so a
point read decodes a few pages of one file.

Written by hand rather than through `polars.scan_delta`, which replays the Delta log on every
call (≈ 12–16 ms a point read here); the index is rebuilt only when a new commit appears.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.transaction import AddAction

from market_spine.lake.arrow import empty_table, from_stream
from market_spine.lake.files import unreadable
from market_spine.lake.filters import RowFilter
from market_spine.lake.integrity import ledger_of
from market_spine.lake.storage import Storage

_EPOCH_DAY = date(1970, 1, 1)
#: File paths delta-rs keeps as written; others it percent-encodes in the log.
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9._=/-]+$")
#: The highest writer version of the base protocol: invariants and append-only at most, which
#: an append honours by adding files only.
_BASE_WRITER_VERSION = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def plain_path(path: str) -> bool:
    """Whether delta-rs keeps a file path in the log as written (else it percent-encodes it,
    and only its replay of the log indexes the file exactly)."""
    return _PLAIN_PATH.match(path) is not None


@dataclass(frozen=True)
class FileEntry:
    """One data file of a snapshot: where it is, its partition values and per-column min/max."""

    path: str
    rel: str
    size: int
    rows: int
    partition: dict[str, Any]
    partition_raw: dict[str, str | None]
    mins: dict[str, Any]
    maxs: dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """The files of one table version, with the schema needed to rebuild partition columns."""

    uri: str
    version: int
    schema: pa.Schema
    partition_columns: tuple[str, ...]
    files: tuple[FileEntry, ...]
    groups: dict[tuple[Any, ...], FileGroup]
    empty: pl.DataFrame
    #: A past version (time travel): its files may have been vacuumed, which is no damage.
    past: bool = False
    #: At the base protocol (reader 1, writer at most 2, no features): an append may be
    #: committed by our own log entry (lake/own_log.py).
    base_protocol: bool = False

    @staticmethod
    def of(
        uri: str,
        version: int,
        schema: pa.Schema,
        partition_columns: tuple[str, ...],
        files: tuple[FileEntry, ...],
        past: bool = False,
    ) -> Snapshot:
        """A snapshot with its files grouped by partition for lookups."""
        by_partition: dict[tuple[Any, ...], list[FileEntry]] = {}
        for f in files:
            key = tuple(f.partition[c] for c in partition_columns)
            by_partition.setdefault(key, []).append(f)
        groups = {key: FileGroup.of(members) for key, members in by_partition.items()}
        empty = pl.from_arrow(empty_table(schema))
        assert isinstance(empty, pl.DataFrame)
        return Snapshot(uri, version, schema, partition_columns, files, groups, empty, past)

    def after(
        self, version: int, adds: Sequence[AddAction], removed: Collection[str]
    ) -> Snapshot | None:
        """This snapshot with one commit applied on top of it (the `version` after this one):
        `adds` indexed from their own statistics, the `removed` paths dropped; only the
        partitions the commit touched are regrouped. None when a path is one delta-rs would
        percent-encode, which only a replay of the log indexes exactly."""
        if any(not plain_path(a.path) for a in adds):
            return None
        added = tuple(self._entry(a) for a in adds)
        gone = set(removed)
        files = tuple(f for f in self.files if f.rel not in gone) + added
        touched = {self._key(f) for f in added}
        gone_files = [f for f in self.files if f.rel in gone]
        touched |= {self._key(f) for f in gone_files}
        groups = {k: g for k, g in self.groups.items() if k not in touched}
        for key in touched:
            kept = self.groups.get(key)
            if kept is not None and not any(self._key(f) == key for f in gone_files):
                # Only added to: extend its arrays rather than index every file again.
                groups[key] = kept.plus([f for f in added if self._key(f) == key])
                continue
            members = [f for f in files if self._key(f) == key]
            if members:
                groups[key] = FileGroup.of(members)
        return replace(self, version=version, files=files, groups=groups)

    def _key(self, f: FileEntry) -> tuple[Any, ...]:
        return tuple(f.partition[c] for c in self.partition_columns)

    def _entry(self, action: AddAction) -> FileEntry:
        """A file this process wrote, indexed as build_snapshot indexes it from the log."""
        stats = json.loads(action.stats or "{}")
        raw = dict(action.partition_values)
        return FileEntry(
            path=f"{self.uri}/{action.path}",
            rel=action.path,
            size=action.size,
            rows=stats.get("numRecords") or 0,
            partition={
                c: _partition_value(raw.get(c), self.schema.field(c).type)
                for c in self.partition_columns
            },
            partition_raw={c: raw.get(c) for c in self.partition_columns},
            mins=self._stat_values(stats.get("minValues", {})),
            maxs=self._stat_values(stats.get("maxValues", {})),
        )

    def _stat_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """JSON statistics in the comparable form of `_stat_keys` (ns, epoch days)."""
        kinds = _stat_kinds(self.schema)
        out: dict[str, Any] = {}
        for name, value in values.items():
            kind = kinds.get(name)
            if kind is None or value is None:
                out[name] = value
            elif kind == "timestamp":
                at = datetime.fromisoformat(value)
                if at.tzinfo is None:
                    at = at.replace(tzinfo=UTC)
                out[name] = (at - _EPOCH) // _MICROSECOND * 1000
            else:
                out[name] = (date.fromisoformat(value) - _EPOCH_DAY).days
        return out


def _stat_kinds(schema: pa.Schema) -> dict[str, str]:
    """The columns of `schema` whose JSON statistics need converting to their comparable
    form: `timestamp` or `date`, by name."""
    kinds = {}
    for field_ in schema:
        if pa.types.is_timestamp(field_.type):
            kinds[field_.name] = "timestamp"
        elif pa.types.is_date32(field_.type):
            kinds[field_.name] = "date"
    return kinds


@dataclass(frozen=True)
class FileGroup:
    """The files of one partition, with their integer min/max statistics as arrays so a range
    lookup over thousands of files is one vectorised comparison."""

    files: tuple[FileEntry, ...]
    mins: dict[str, np.ndarray]
    maxs: dict[str, np.ndarray]

    @staticmethod
    def of(files: list[FileEntry]) -> FileGroup:
        cols = [
            c
            for c in (files[0].mins if files else {})
            if all(isinstance(f.mins.get(c), int) and isinstance(f.maxs.get(c), int) for f in files)
        ]
        mins = {c: np.array([f.mins[c] for f in files], dtype=np.int64) for c in cols}
        maxs = {c: np.array([f.maxs[c] for f in files], dtype=np.int64) for c in cols}
        return FileGroup(tuple(files), mins, maxs)

    def plus(self, added: list[FileEntry]) -> FileGroup:
        """This group with `added` files after its own, indexed as `of` would index them all:
        a column keeps its arrays only while every file has integer statistics for it."""
        cols = [
            c
            for c in self.mins
            if all(isinstance(f.mins.get(c), int) and isinstance(f.maxs.get(c), int) for f in added)
        ]
        mins = {
            c: np.append(self.mins[c], np.array([f.mins[c] for f in added], dtype=np.int64))
            for c in cols
        }
        maxs = {
            c: np.append(self.maxs[c], np.array([f.maxs[c] for f in added], dtype=np.int64))
            for c in cols
        }
        return FileGroup((*self.files, *added), mins, maxs)

    def select(self, wanted: RowFilter) -> list[FileEntry]:
        """Files whose statistics may hold rows matching a filter on data columns (comparable
        form): integer columns in one vectorised step, the rest file by file."""
        mask = np.ones(len(self.files), dtype=bool)
        rest_eq, rest_rng = {}, {}
        for col, value in wanted.equals.items():
            if col in self.mins and isinstance(value, int):
                mask &= (self.mins[col] <= value) & (value <= self.maxs[col])
            else:
                rest_eq[col] = value
        for col, (lo, hi) in wanted.between.items():
            if col in self.mins and isinstance(lo, int) and isinstance(hi, int):
                mask &= (self.maxs[col] >= lo) & (self.mins[col] <= hi)
            else:
                rest_rng[col] = (lo, hi)
        picked = [self.files[i] for i in np.flatnonzero(mask)]
        rest = RowFilter(rest_eq, rest_rng)
        return [f for f in picked if rest.may_match(f)] if rest else picked


def _stat_keys(column: pa.ChunkedArray) -> list[Any]:
    if pa.types.is_timestamp(column.type):
        unit_ns = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[column.type.unit]
        ints = column.cast(pa.int64()).to_pylist()
        return [None if v is None else v * unit_ns for v in ints]
    if pa.types.is_date32(column.type):
        return column.cast(pa.int32()).to_pylist()
    return column.to_pylist()


def _partition_value(raw: str | None, type_: pa.DataType) -> Any:
    if raw is None:
        return None
    if pa.types.is_date32(type_):
        return (date.fromisoformat(raw) - _EPOCH_DAY).days
    if pa.types.is_integer(type_):
        return int(raw)
    return raw


def add_actions(table: DeltaTable) -> pa.Table:
    """The table's add actions (one row per live file: `path`, `size_bytes`, `partition.<c>`,
    `min.<c>`, `max.<c>`...) as a pyarrow table."""
    return from_stream(table.get_add_actions(flatten=True))


def build_snapshot(table: DeltaTable) -> Snapshot:
    """Index a DeltaTable's current version: one FileEntry per add action."""
    protocol = table.protocol()
    return index_actions(
        table.table_uri.removeprefix("file://").rstrip("/"),
        table.version(),
        pa.schema(table.schema().to_arrow()),
        tuple(table.metadata().partition_columns),
        add_actions(table),
        base_protocol=is_base_protocol(
            protocol.min_reader_version,
            protocol.min_writer_version,
            protocol.reader_features,
            protocol.writer_features,
        ),
    )


def is_base_protocol(
    reader_version: int,
    writer_version: int,
    reader_features: Sequence[str] | None,
    writer_features: Sequence[str] | None,
) -> bool:
    """Whether a table's protocol is the base one an append may be committed at by our own log
    entry (lake/own_log.py): reader 1, writer at most _BASE_WRITER_VERSION, no features."""
    return (
        reader_version == 1
        and writer_version <= _BASE_WRITER_VERSION
        and not reader_features
        and not writer_features
    )


def index_actions(
    root: str,
    version: int,
    schema: pa.Schema,
    partition_columns: tuple[str, ...],
    actions: pa.Table,
    *,
    base_protocol: bool,
) -> Snapshot:
    """Index a version from its live files' add actions, flattened as delta-rs gives them (one
    row per file: `path`, `size_bytes`, `num_records`, `partition.<c>` as the log spells the
    value, `min.<c>` and `max.<c>` in the column's type, null where not known)."""
    names = actions.column_names
    stats_cols = [n[4:] for n in names if n.startswith("min.")]
    mins = {c: _stat_keys(actions.column(f"min.{c}")) for c in stats_cols if f"max.{c}" in names}
    maxs = {c: _stat_keys(actions.column(f"max.{c}")) for c in mins}
    parts = {c: actions.column(f"partition.{c}").to_pylist() for c in partition_columns}
    types = {c: schema.field(c).type for c in partition_columns}
    paths = actions.column("path").to_pylist()
    rows = actions.column("num_records").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    files = []
    for i, rel in enumerate(paths):
        raw = {c: parts[c][i] for c in partition_columns}
        files.append(
            FileEntry(
                path=f"{root}/{rel}",
                rel=rel,
                size=sizes[i],
                rows=rows[i] or 0,
                partition={c: _partition_value(raw[c], types[c]) for c in partition_columns},
                partition_raw=raw,
                mins={c: mins[c][i] for c in mins},
                maxs={c: maxs[c][i] for c in maxs},
            )
        )
    indexed = Snapshot.of(root, version, schema, partition_columns, tuple(files))
    return replace(indexed, base_protocol=base_protocol)


def candidates(snapshot: Snapshot, wanted: RowFilter) -> list[FileEntry]:
    """The files that may hold matching rows (filter in comparable form): partitions first,
    then file statistics."""
    on_partition, on_data = wanted.split(snapshot.partition_columns)
    picked: list[FileEntry] = []
    for key, group in snapshot.groups.items():
        if on_partition.admits(dict(zip(snapshot.partition_columns, key, strict=True))):
            picked.extend(group.select(on_data))
    return picked


def open_table(storage: Storage, uri: str, version: int | None = None) -> DeltaTable:
    """The delta-rs table at `uri` (a path or an `s3://` URI), with the storage's options;
    LakeUnreachable when its store does not answer."""
    with storage.reaching():
        return DeltaTable(uri, version=version, storage_options=storage.delta_options())


def read_files(snapshot: Snapshot, files: Sequence[FileEntry]) -> pl.DataFrame:
    """Every row of `files` of `snapshot`, partition columns included, in one scan (a file at a
    time costs a scan's fixed overhead per file, most of compacting many small ones). OSError
    when fewer rows come back than the log says the files hold: never compact or rewrite from
    a short read, which would silently drop rows."""
    only = Snapshot.of(
        snapshot.uri, snapshot.version, snapshot.schema, snapshot.partition_columns, (*files,)
    )
    rows = read_table(only, RowFilter(), None)
    logged = sum(f.rows for f in files)
    if rows.height != logged:
        where = files[0].path if len(files) == 1 else f"{snapshot.uri} ({len(files)} files)"
        raise OSError(f"{where}: read {rows.height} rows, the log says {logged}")
    return rows


def read_table(snapshot: Snapshot, wanted: RowFilter, columns: list[str] | None) -> pl.DataFrame:
    """Read the rows of a snapshot that match the filters; columns default to the whole schema.

    Files are chosen from the snapshot's index; polars then prunes row groups and pages with the
    page index: one lazy scan per partition (its value added as a literal, cheaper than parsing
    hive paths), collected together in parallel.
    """
    names = columns or snapshot.schema.names
    ledger, dataset, _ = ledger_of(snapshot.uri)
    by_partition: dict[tuple[Any, ...], list[FileEntry]] = {}
    for f in candidates(snapshot, wanted.comparable()):
        ledger.check_file(dataset, f, past=snapshot.past)
        by_partition.setdefault(tuple(f.partition_raw.values()), []).append(f)
    filters = wanted.split(snapshot.partition_columns)[1].exprs() or [pl.lit(True)]
    empty = snapshot.empty
    casts = [
        pl.col(c).dt.cast_time_unit("ns") for c in names if isinstance(empty.schema[c], pl.Datetime)
    ]
    file_schema = {c: t for c, t in empty.schema.items() if c not in snapshot.partition_columns}
    plans = []
    for files in by_partition.values():
        constants = [
            pl.lit(
                _partition_literal(files[0].partition[c], empty.schema[c]), empty.schema[c]
            ).alias(c)
            for c in snapshot.partition_columns
            if c in names
        ]
        plans.append(
            pl.scan_parquet(
                [f.path for f in files],
                # The table's schema, not the first file's: files written before a column was
                # added read it as null.
                schema=file_schema,
                missing_columns="insert",
                storage_options=ledger.storage.read_options(),
            )
            .filter(*filters)
            .with_columns(*constants)
            .select(names)
            .with_columns(casts)
        )
    if not plans:
        return empty.select(names).with_columns(casts)
    try:
        if len(plans) == 1:
            return plans[0].collect()
        return pl.concat(pl.collect_all(plans), how="diagonal_relaxed")
    except (pl.exceptions.PolarsError, OSError) as exc:
        if snapshot.past and isinstance(exc, FileNotFoundError):
            raise
        # A store that does not answer, or refuses the credentials, damaged nothing.
        failed = ledger.storage.failure(exc)
        if failed is not None:
            raise failed from None
        # The files passed their checks: name the one that cannot be decoded whole.
        files = [f for group in by_partition.values() for f in group]
        bad = next((f for f in files if unreadable(ledger.storage, f.path)), files[0])
        raise ledger.file_damage(dataset, bad, f"could not be decoded ({exc})") from exc


def _partition_literal(value: Any, dtype: pl.DataType) -> Any:
    """A partition key (epoch days for dates) back as a Python value of the column's type."""
    return _EPOCH_DAY + timedelta(days=value) if dtype == pl.Date else value
