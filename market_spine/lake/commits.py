"""What a lake write commits and reports: the content of one commit (`Change`), a replacement's
plan against the snapshot it read (`ReplacePlan`), the commit's metadata, and what the write left
behind (`CommitInfo`, and `Replacement` for a replacement)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl
import pyarrow as pa
from deltalake.transaction import AddAction, RemoveAction

from market_spine.errors import LakeDamaged
from market_spine.lake.filters import RowFilter
from market_spine.lake.reader import FileEntry, Snapshot
from market_spine.lake.repair import day_of
from market_spine.version import package_version


@dataclass(frozen=True)
class Unread:
    """A damaged file a replacement removed without reading it: why (`damage`), and the
    partition values and trade dates its rows covered."""

    damage: LakeDamaged
    partition: Mapping[str, str | None]
    first: date | None
    last: date | None

    @staticmethod
    def of(f: FileEntry, damage: LakeDamaged) -> Unread:
        first = day_of(f.mins.get("trade_date", f.partition.get("trade_date")))
        last = day_of(f.maxs.get("trade_date", f.partition.get("trade_date")))
        return Unread(damage, dict(f.partition_raw), first, last)

    def covers(self, symbol: str | None, day: date) -> bool:
        """True when the file may have held rows of `symbol` (None: any) on `day`."""
        held = self.partition.get("symbol")
        return (
            (symbol is None or held is None or held == symbol)
            and (self.first is None or self.first <= day)
            and (self.last is None or day <= self.last)
        )


@dataclass(frozen=True)
class ReplacePlan:
    """How a replacement changes the snapshot it read: files to remove, rewritten remainders of
    files straddling the predicate, and the table's partition columns."""

    read: Snapshot | None
    removes: list[RemoveAction]
    rewrites: list[AddAction]
    partition_by: list[str] | None
    #: The rows the predicate matched in `read`, when the caller asked for them.
    replaced: pl.DataFrame | None = field(default=None, compare=False)
    #: Files wholly replaced that were damaged: removed unread, their rows left out of
    #: `replaced` (a repair must not need the bytes it replaces).
    damaged: tuple[Unread, ...] = ()


@dataclass(frozen=True)
class Change:
    """One commit's content: the actions, the table's schema and partition columns, the
    caller's metadata and row count, the snapshot it was planned from (None: no table yet) and
    the region a replacement read (None for appends, which read nothing)."""

    schema: pa.Schema
    adds: list[AddAction]
    removes: list[RemoveAction]
    partition_by: list[str] | None
    metadata: Mapping[str, Any] | None
    rows: int
    read: Snapshot | None
    region: RowFilter | None = None


@dataclass(frozen=True)
class CommitInfo:
    """What one write left behind: the table version it created and the rows it carried."""

    dataset: str
    version: int
    rows: int
    operation: str


@dataclass(frozen=True)
class Replacement(CommitInfo):
    """What a replacement left behind, and what it replaced: the version it read (None when
    the table did not exist yet) and, when asked for (`Lake.replace(return_replaced=True)`),
    every row the predicate matched there, as a read of that version returns them (empty
    with the new rows' columns when nothing matched)."""

    read_version: int | None = None
    replaced: pl.DataFrame | None = field(default=None, compare=False)
    #: The damaged files it removed unread: `replaced` lacks their rows (their problem and
    #: what they covered are in each LakeDamaged).
    damaged: tuple[Unread, ...] = field(default=(), compare=False)


def arrow_of(data: pl.DataFrame | pa.Table) -> pa.Table:
    if isinstance(data, pl.DataFrame):
        # The oldest compat level avoids string views, which older Delta readers reject.
        return data.to_arrow(compat_level=pl.CompatLevel.oldest())
    return data


#: The `maintenance` metadata of a compaction's commit: files rewritten, rows unchanged.
COMPACTION = "compact"


def commit_metadata(metadata: Mapping[str, Any] | None, rows: int) -> dict[str, str]:
    """Commit metadata: the caller's (capture ids, run id) plus row count and code version."""
    out = {
        k: v if isinstance(v, str) else json.dumps(v, default=str)
        for k, v in (metadata or {}).items()
    }
    out["rows"] = str(rows)
    out["code_version"] = package_version()
    return out
