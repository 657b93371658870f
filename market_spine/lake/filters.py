"""The lake's one row filter: `col = value` for each of `equals` and `lo <= col <= hi` (both
inclusive) for each of `between`, all of them at once.

Reads, replacements and pruning all ask the same question of it in different forms — may a
file's partition or min/max statistics hold a matching row, does every row of a file surely
match, which rows of a frame match, how many rows of a new table do not — so the rule lives here
once and each form is a method.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    from market_spine.lake.reader import FileEntry

_EPOCH_DAY = date(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)


def comparable(value: Any) -> Any:
    """The form statistics and partition values are kept in: ns since the epoch for timestamps
    (which must carry a zone), days since the epoch for dates, anything else as it is."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value} has no time zone")
        ns = getattr(value, "value", None)  # pandas.Timestamp keeps nanoseconds
        if isinstance(ns, int):
            return ns
        return (value - _EPOCH_UTC) // timedelta(microseconds=1) * 1_000
    if isinstance(value, date):
        return (value - _EPOCH_DAY).days
    return value


@dataclass(frozen=True)
class RowFilter:
    """Rows where every `equals[col] == col` and every `between[col] = (lo, hi)` holds."""

    equals: Mapping[str, Any] = field(default_factory=dict)
    between: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.equals or self.between)

    def __str__(self) -> str:
        """For messages: `symbol=CL, trade_date in [2024-03-04, 2024-03-05]`."""
        parts = [f"{col}={value}" for col, value in self.equals.items()]
        parts += [f"{col} in [{lo}, {hi}]" for col, (lo, hi) in self.between.items()]
        return ", ".join(parts)

    def comparable(self) -> RowFilter:
        """The same filter with values in the form of the file index (see `comparable`)."""
        return RowFilter(
            {c: comparable(v) for c, v in self.equals.items()},
            {c: (comparable(lo), comparable(hi)) for c, (lo, hi) in self.between.items()},
        )

    def split(self, columns: Iterable[str]) -> tuple[RowFilter, RowFilter]:
        """(the conditions on `columns`, the rest): partition columns versus data columns."""
        inside = set(columns)
        return (
            RowFilter(
                {c: v for c, v in self.equals.items() if c in inside},
                {c: r for c, r in self.between.items() if c in inside},
            ),
            RowFilter(
                {c: v for c, v in self.equals.items() if c not in inside},
                {c: r for c, r in self.between.items() if c not in inside},
            ),
        )

    def admits(self, values: Mapping[str, Any]) -> bool:
        """Whether known column values (a partition's) pass the conditions on those columns."""
        if any(c in values and values[c] != v for c, v in self.equals.items()):
            return False
        return all(c not in values or lo <= values[c] <= hi for c, (lo, hi) in self.between.items())

    def may_match(self, f: FileEntry) -> bool:
        """Whether a file may hold a matching row: by its partition values where the column is
        a partition column, else by its min/max statistics (a column without statistics never
        excludes a file, nor does a value not comparable with the column's, e.g. text against an
        integer column: pruning only skips work, so it never raises)."""
        try:
            return self._may_match(f)
        except TypeError:
            return True

    def _may_match(self, f: FileEntry) -> bool:
        for col, value in self.equals.items():
            if col in f.partition:
                if f.partition[col] != value:
                    return False
            elif f.mins.get(col) is not None and not f.mins[col] <= value <= f.maxs[col]:
                return False
        for col, (lo, hi) in self.between.items():
            if col in f.partition:
                if not lo <= f.partition[col] <= hi:
                    return False
            elif f.mins.get(col) is not None and (f.maxs[col] < lo or f.mins[col] > hi):
                return False
        return True

    def covers(self, f: FileEntry) -> bool:
        """Whether every row of a file surely matches, so it can be dropped or kept whole (never
        when a value is not comparable with the column's)."""
        try:
            return self._covers(f)
        except TypeError:
            return False

    def _covers(self, f: FileEntry) -> bool:
        for col, value in self.equals.items():
            if col in f.partition:
                if f.partition[col] != value:
                    return False
            elif not f.mins.get(col) == value == f.maxs.get(col):
                return False
        for col, (lo, hi) in self.between.items():
            if col in f.partition:
                if not lo <= f.partition[col] <= hi:
                    return False
            elif f.mins.get(col) is None or not (lo <= f.mins[col] and f.maxs[col] <= hi):
                return False
        return True

    def exprs(self) -> list[pl.Expr]:
        """Polars conditions, plain comparisons with literals so polars pushes them into Parquet
        row-group and page-index pruning."""
        exprs = [pl.col(c) == pl.lit(v) for c, v in self.equals.items()]
        exprs += [
            pl.col(c) == pl.lit(lo) if lo == hi else pl.col(c).is_between(pl.lit(lo), pl.lit(hi))
            for c, (lo, hi) in self.between.items()
        ]
        return exprs

    def expr(self) -> pl.Expr:
        """All conditions as one expression (true for the empty filter); null never matches."""
        return pl.all_horizontal(self.exprs()).fill_null(False) if self else pl.lit(True)

    def rows_outside(self, table: pa.Table) -> int:
        """How many rows of an Arrow table do not match (polars over the same buffers)."""
        if table.num_rows == 0 or not self:
            return 0
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return table.num_rows - int(frame.select(self.expr().sum()).item())
