"""The Delta Lake store: append-only captures, atomic partition replacement, time travel."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake

from market_spine.errors import InvalidInput, LakeError, NotMaterialized
from market_spine.lake.predicates import conjunction
from market_spine.lake.reader import SnapshotCache, read_table

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$")

#: zstd level 1 writes nearly as fast as snappy and keeps files small; row groups of ~1.5 sessions
#: of minute bars let a point read decode one or two groups instead of a whole file.
ROW_GROUP_ROWS = 2048
WRITER_PROPERTIES = WriterProperties(
    compression="ZSTD", compression_level=1, max_row_group_size=ROW_GROUP_ROWS
)

AsOf = int | datetime | str | None


@dataclass(frozen=True)
class CommitInfo:
    """What one write left behind: the table version it created and the rows it carried."""

    dataset: str
    version: int
    rows: int
    operation: str


def _arrow(data: pl.DataFrame | pa.Table) -> pa.Table:
    if isinstance(data, pl.DataFrame):
        # The oldest compat level avoids string views, which older Delta readers reject.
        return data.to_arrow(compat_level=pl.CompatLevel.oldest())
    return data


def _metadata(metadata: Mapping[str, Any] | None, rows: int) -> dict[str, str]:
    out = {
        k: v if isinstance(v, str) else json.dumps(v, default=str)
        for k, v in (metadata or {}).items()
    }
    out["rows"] = str(rows)
    return out


class Lake:
    """A folder of Delta tables named `<layer>/<dataset>`, with the platform's reads and writes."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self._snapshots = SnapshotCache()

    def path(self, dataset: str) -> Path:
        """The folder of a dataset's table; names look like `normalized/futures_bars_1m`."""
        if not DATASET_NAME.match(dataset):
            raise InvalidInput(
                f"dataset name {dataset!r} is not '<layer>/<name>' in lower snake case, "
                "e.g. 'normalized/futures_bars_1m'"
            )
        return self.root / dataset

    def exists(self, dataset: str) -> bool:
        """True once the dataset's table has its first commit."""
        return (self.path(dataset) / "_delta_log").is_dir()

    def datasets(self) -> list[str]:
        """Every table in the lake, as `<layer>/<name>`."""
        if not self.root.is_dir():
            return []
        return sorted(
            f"{log.parent.parent.name}/{log.parent.name}"
            for log in self.root.glob("*/*/_delta_log")
        )

    # -- writes -------------------------------------------------------------------------------

    def append(
        self,
        dataset: str,
        data: pl.DataFrame | pa.Table,
        *,
        partition_by: list[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> CommitInfo:
        """Append rows as one commit; raw captures only ever grow this way."""
        table = _arrow(data)
        path = self.path(dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_deltalake(
            str(path),
            table,
            mode="append",
            partition_by=partition_by,
            writer_properties=WRITER_PROPERTIES,
            commit_properties=CommitProperties(custom_metadata=_metadata(metadata, table.num_rows)),
        )
        return CommitInfo(dataset, self.version(dataset) or 0, table.num_rows, "append")

    def replace(
        self,
        dataset: str,
        data: pl.DataFrame | pa.Table,
        *,
        equals: Mapping[str, Any] | None = None,
        between: Mapping[str, tuple[Any, Any]] | None = None,
        partition_by: list[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> CommitInfo:
        """Atomically replace the rows matching the predicate with `data`, as one new version.

        Every row of `data` must match the predicate, so a replacement can never touch rows
        outside the partition it names; readers see either the old rows or the new ones.
        """
        table = _arrow(data)
        path = self.path(dataset)
        predicate = conjunction(equals, between)
        props = CommitProperties(custom_metadata=_metadata(metadata, table.num_rows))
        if not self.exists(dataset):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_deltalake(
                str(path),
                table,
                mode="append",
                partition_by=partition_by,
                writer_properties=WRITER_PROPERTIES,
                commit_properties=props,
            )
        else:
            try:
                write_deltalake(
                    str(path),
                    table,
                    mode="overwrite",
                    predicate=predicate,
                    partition_by=partition_by,
                    writer_properties=WRITER_PROPERTIES,
                    commit_properties=props,
                )
            except Exception as exc:  # delta-rs raises several unrelated types for a bad predicate
                raise LakeError(f"replacing {dataset} where {predicate} failed: {exc}") from exc
        return CommitInfo(dataset, self.version(dataset) or 0, table.num_rows, "replace")

    # -- reads --------------------------------------------------------------------------------

    def table(self, dataset: str, as_of: AsOf = None) -> DeltaTable:
        """The DeltaTable at its latest version, or as of a version number or a timestamp."""
        self._require(dataset)
        table = DeltaTable(str(self.path(dataset)))
        if as_of is not None:
            table.load_as_version(_as_of(as_of))
        return table

    def version(self, dataset: str) -> int | None:
        """The latest version of a table, or None when it does not exist yet."""
        if not self.exists(dataset):
            return None
        return self._snapshots.latest(str(self.path(dataset))).version

    def history(self, dataset: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commits newest first, each with its operation, timestamp and our custom metadata."""
        return self.table(dataset).history(limit)

    def read(
        self,
        dataset: str,
        *,
        equals: Mapping[str, Any] | None = None,
        between: Mapping[str, tuple[Any, Any]] | None = None,
        columns: list[str] | None = None,
        as_of: AsOf = None,
    ) -> pl.DataFrame:
        """Rows where `col = value` and `lo <= col <= hi`, pruned by partition, file, row group."""
        if not self.exists(dataset):
            raise LakeError(f"dataset {dataset} has no data yet: materialize it first")
        uri = str(self.path(dataset))
        snapshot = (
            self._snapshots.latest(uri) if as_of is None else self._snapshots.at(uri, _as_of(as_of))
        )
        return read_table(snapshot, equals or {}, between or {}, columns)

    def _require(self, dataset: str) -> None:
        if not self.exists(dataset):
            raise NotMaterialized(
                f"dataset {dataset} has no data yet: materialize it first "
                "(`market-spine process --date D`)"
            )

    def _checked_as_of(self, dataset: str, as_of: int | datetime) -> int | datetime:
        """Refuse a version that does not exist or a time before the first commit, which
        delta-rs would otherwise answer silently with the oldest or newest state."""
        latest = self.version(dataset) or 0
        if isinstance(as_of, int):
            if not 0 <= as_of <= latest:
                raise InvalidInput(
                    f"as_of version {as_of} of {dataset} does not exist: 0..{latest}"
                )
            return as_of
        oldest = self.table(dataset).history()[-1]
        first = datetime.fromtimestamp(oldest["timestamp"] / 1000, UTC)
        if as_of < first:
            raise InvalidInput(
                f"as_of {as_of.isoformat()} is before {dataset} existed (first commit "
                f"{first.isoformat()}): pass a later time"
            )
        return as_of

    def scan(self, dataset: str, as_of: AsOf = None) -> pl.LazyFrame:
        """A lazy polars scan of the whole table, for ad-hoc queries."""
        table = self.table(dataset, as_of)
        return pl.scan_delta(table)


def _as_of(as_of: int | datetime | str) -> int | datetime:
    """Accept a version number, a datetime, or an ISO timestamp string."""
    if isinstance(as_of, int | datetime):
        if isinstance(as_of, datetime) and as_of.tzinfo is None:
            raise InvalidInput(f"as_of {as_of} has no time zone: pass an aware UTC timestamp")
        return as_of
    if isinstance(as_of, date):
        raise InvalidInput("as_of must be a version number or a timestamp, not a date")
    text = str(as_of).strip()
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"as_of {as_of!r} is neither a version number nor an ISO timestamp like "
            "'2024-01-02T15:00:00Z'"
        ) from exc
    if parsed.tzinfo is None:
        raise InvalidInput(f"as_of {as_of!r} has no time zone: add 'Z' or an offset")
    return parsed


@lru_cache(maxsize=16)
def lake_at(root: str) -> Lake:
    """One Lake per root in a process, so its snapshot and footer caches are shared."""
    return Lake(root)
