"""Indexing a local table's newest version straight from its Delta log, without delta-rs.

Every run is a process of its own, so it opens each table it touches cold: delta-rs replaying
the log (~6–11 ms for a small table) and our index built from its add actions (~3–5 ms). A
local table at the base reader protocol (reader version 1: no column mapping, no deletion
vectors) is described by its newest checkpoint and the JSON commits after it alone, so it is
indexed here from those files (the checkpoint's `add`, `metaData` and `protocol` columns, then
each commit's actions in order), as `build_snapshot` would index delta-rs' replay; a delta-rs
table is opened only when a write needs one (a replacement, a checkpoint). Anything else (a
table on object storage, a reader feature, a multi-part checkpoint, a path the log
percent-encodes, a log these files cannot be read from) is left to delta-rs: None here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq
from deltalake import Schema as DeltaSchema
from deltalake.transaction import AddAction

from market_spine.lake.files import LogHead, commit_name
from market_spine.lake.reader import Snapshot, index_actions, is_base_protocol, plain_path
from market_spine.lake.storage import Storage

#: What a commit may hold for its actions to be applied on top of an index (any other action,
#: a metaData or protocol change above all, re-indexes the whole log).
_FILE_ACTIONS = frozenset({"add", "remove", "commitInfo", "txn"})


def indexed(storage: Storage, uri: str, head: LogHead) -> Snapshot | None:
    """The version `head` ends at of the local table at `uri`, indexed from its log: the
    checkpoint `head` starts from and every commit after it; None when delta-rs must."""
    if not storage.local or len(head.checkpoint) > 1:
        return None
    log_dir = storage.join(uri, "_delta_log")
    try:
        state = _State()
        if head.base >= 0:
            state.checkpoint(storage.source(storage.join(log_dir, head.checkpoint[0])))
        for version in range(head.base + 1, head.newest + 1):
            state.commit(storage.read(storage.join(log_dir, commit_name(version))))
        return state.snapshot(uri, head.newest)
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
        # A log these files do not describe as expected: delta-rs replays it, and says what
        # is wrong with it.
        return None


def advanced(storage: Storage, uri: str, snapshot: Snapshot, newest: int) -> Snapshot | None:
    """`snapshot` brought to version `newest` by applying the commits after it, each adding
    and removing files only; None when one does more (or cannot be read): index afresh."""
    if not storage.local or not snapshot.base_protocol or snapshot.past:
        return None
    log_dir = storage.join(uri, "_delta_log")
    try:
        for version in range(snapshot.version + 1, newest + 1):
            actions = _actions(storage.read(storage.join(log_dir, commit_name(version))))
            if any(kind not in _FILE_ACTIONS for action in actions for kind in action):
                return None
            adds = [_add(a["add"]) for a in actions if "add" in a]
            removed = [a["remove"]["path"] for a in actions if "remove" in a]
            applied = snapshot.after(version, adds, removed)
            if applied is None:
                return None
            snapshot = applied
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return snapshot


#: What the index needs of a checkpoint (leaf columns only: a checkpoint's other action fields
#: cost their decoding).
_CHECKPOINT_COLUMNS = [
    "add.path",
    "add.size",
    "add.partitionValues",
    "add.stats",
    "metaData.schemaString",
    "metaData.partitionColumns",
    "protocol",
]


class _State:
    """The table state a log replay accumulates: live files by path (size, partition values,
    JSON statistics), metadata, protocol."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, Mapping[str, str | None], str | None]] = {}
        self.metadata: Mapping[str, Any] | None = None
        self.protocol: Mapping[str, Any] | None = None

    def checkpoint(self, path: str | BinaryIO) -> None:
        # A ParquetFile, not read_table: that imports pyarrow.dataset (and pandas), ~0.3 s
        # of a cold process.
        table = pq.ParquetFile(path).read(columns=_CHECKPOINT_COLUMNS)
        adds = table.column("add").drop_null()
        if len(adds):
            flat = adds.combine_chunks()
            paths = flat.field("path").to_pylist()
            sizes = flat.field("size").to_pylist()
            values = flat.field("partitionValues").to_pylist()
            stats = flat.field("stats").to_pylist()
            for path, size, partition, stat in zip(paths, sizes, values, stats, strict=True):
                self.files[path] = (size, dict(partition), stat)
        for metadata in _present(table.column("metaData")):
            self.metadata = metadata
        for protocol in _present(table.column("protocol")):
            self.protocol = protocol

    def commit(self, content: bytes) -> None:
        for action in _actions(content):
            if "add" in action:
                add = action["add"]
                self.files[add["path"]] = (add["size"], add["partitionValues"], add.get("stats"))
            elif "remove" in action:
                self.files.pop(action["remove"]["path"], None)
            elif "metaData" in action:
                self.metadata = action["metaData"]
            elif "protocol" in action:
                self.protocol = action["protocol"]

    def snapshot(self, uri: str, version: int) -> Snapshot | None:
        if self.metadata is None or self.protocol is None:
            return None
        if self.protocol["minReaderVersion"] != 1 or self.protocol.get("readerFeatures"):
            return None
        if any(not plain_path(path) for path in self.files):
            return None
        partition_columns = tuple(self.metadata["partitionColumns"])
        schema, explicit = _schemas(self.metadata["schemaString"], partition_columns)
        return index_actions(
            uri,
            version,
            schema,
            partition_columns,
            _actions_table(self.files, schema, explicit),
            base_protocol=is_base_protocol(
                self.protocol["minReaderVersion"],
                self.protocol["minWriterVersion"],
                self.protocol.get("readerFeatures"),
                self.protocol.get("writerFeatures"),
            ),
        )


@functools.lru_cache(maxsize=64)
def _schemas(schema_string: str, partition_columns: tuple[str, ...]) -> tuple[pa.Schema, pa.Schema]:
    """A table's Arrow schema from its metadata's `schemaString`, and the schema a file's add
    action is parsed with from JSON (kept: a table's schema rarely changes)."""
    schema = pa.schema(DeltaSchema.from_json(schema_string).to_arrow())
    as_json = pa.struct([pa.field(f.name, _json_type(f.type)) for f in schema if _compared(f.type)])
    stats = pa.struct([("numRecords", pa.int64()), ("minValues", as_json), ("maxValues", as_json)])
    partition = pa.struct([(c, pa.string()) for c in partition_columns])
    explicit = pa.schema(
        [
            ("path", pa.string()),
            ("size", pa.int64()),
            ("partitionValues", partition),
            ("stats", stats),
        ]
    )
    return schema, explicit


def _actions_table(
    files: Mapping[str, tuple[int, Mapping[str, str | None], str | None]],
    schema: pa.Schema,
    explicit: pa.Schema,
) -> pa.Table:
    """The live files' add actions flattened as delta-rs flattens them (`path`, `size_bytes`,
    `num_records`, `partition.<c>`, and `min.<c>` and `max.<c>` in the column's type for every
    column whose statistics the index compares: numbers, text, dates, timestamps), parsed from
    JSON in one pass over all files; built from Arrow arrays only (a list made an Arrow array
    imports pandas, a second of a dbt process that makes the lake views)."""
    # The paths are plain (`plain_path`): quoted as they are.
    lines = "\n".join(
        f'{{"path":"{path}","size":{size},'
        f'"partitionValues":{json.dumps(values) if values else "{}"},"stats":{stats or "{}"}}}'
        for path, (size, values, stats) in files.items()
    ).encode()
    if files:
        parsed = pajson.read_json(
            pa.BufferReader(lines),
            parse_options=pajson.ParseOptions(
                explicit_schema=explicit, unexpected_field_behavior="ignore"
            ),
        )
    else:
        parsed = explicit.empty_table()
    stats = parsed.column("stats").combine_chunks()
    names = ["path", "size_bytes", "num_records"]
    arrays: list[Any] = [parsed.column("path"), parsed.column("size"), stats.field("numRecords")]
    partition = parsed.column("partitionValues").combine_chunks()
    for c in explicit.field("partitionValues").type:
        names.append(f"partition.{c.name}")
        arrays.append(partition.field(c.name))
    for side in ("min", "max"):
        values = stats.field(f"{side}Values")
        for f in schema:
            if not _compared(f.type):
                continue
            column = values.field(f.name)
            if column.type != f.type:
                column = pc.cast(column, _parsed_type(f.type))
            names.append(f"{side}.{f.name}")
            arrays.append(column)
    return pa.Table.from_arrays(
        [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays], names=names
    )


def _compared(type_: pa.DataType) -> bool:
    return (
        pa.types.is_integer(type_)
        or pa.types.is_floating(type_)
        or pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_date32(type_)
        or pa.types.is_timestamp(type_)
    )


def _json_type(type_: pa.DataType) -> pa.DataType:
    """How a column's statistics are spelled in JSON: dates and timestamps as ISO text."""
    return pa.string() if pa.types.is_date32(type_) or pa.types.is_timestamp(type_) else type_


def _parsed_type(type_: pa.DataType) -> pa.DataType:
    """The type ISO text of a date or timestamp column's statistics is cast to: the log keeps
    timestamps to the microsecond."""
    if pa.types.is_timestamp(type_):
        return pa.timestamp("us", type_.tz)
    return type_


def _present(column: pa.ChunkedArray) -> Iterable[dict[str, Any]]:
    """The non-null entries of a checkpoint's action column, as dicts."""
    return (entry for entry in column.drop_null().to_pylist() if entry is not None)


def _actions(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.splitlines() if line.strip()]


def _add(add: Mapping[str, Any]) -> AddAction:
    return AddAction(
        add["path"],
        add["size"],
        add.get("partitionValues") or {},
        add.get("modificationTime") or 0,
        add.get("dataChange", True),
        add.get("stats"),
    )
