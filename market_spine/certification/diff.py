"""The keyed diff of two snapshots of a partition: which rows were added, removed or changed, in
which columns and by how much.

A keyed diff, not Delta's change data feed: a partition replacement removes and re-adds every
row, changed or not, so the feed cannot tell a revision from a rerun that changed nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np
import polars as pl

from market_spine.certification.tables import REVISION_DETAIL_SCHEMA

_OLD, _NEW, _SUFFIX, _KEY = "__in_old", "__in_new", "__new", "__key_json"

#: The detail frame's columns (a revision's rows, before they are stamped with its id).
DETAIL_SCHEMA = REVISION_DETAIL_SCHEMA


@dataclass(frozen=True)
class ColumnChange:
    """How one column changed: rows whose value differs, and for a numeric column the largest
    absolute change (|new − old|, never negative: its direction is the relative change's sign)
    and relative change ((new − old) / |old|, signed, the one of largest magnitude; None where
    every old value is 0 or null)."""

    rows: int
    max_abs: float | None = None
    max_rel: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "max_abs_change": self.max_abs, "max_rel_change": self.max_rel}


@dataclass(frozen=True)
class Diff:
    """What differs between two snapshots of a partition, by key: counts, the changed columns,
    and one detail row per added or removed row and per changed value (DETAIL_SCHEMA)."""

    added: int = 0
    removed: int = 0
    changed: int = 0
    columns: dict[str, ColumnChange] = field(default_factory=dict)
    detail: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DETAIL_SCHEMA))

    @property
    def empty(self) -> bool:
        """True when the two snapshots hold the same data."""
        return not (self.added or self.removed or self.changed)


def keyed_diff(
    old: pl.DataFrame,
    new: pl.DataFrame,
    keys: Sequence[str],
    ignore: Collection[str] = (),
) -> Diff:
    """Diff `old` against `new` by `keys`, comparing every other column of `new` except
    `ignore` (provenance such as capture ids, which differ on every capture). Values compare
    exactly, nulls equal to nulls. Raises ValueError when a key column is missing."""
    missing = [k for k in keys if k not in new.columns or k not in old.columns]
    if missing or not keys:
        raise ValueError(f"a keyed diff needs key columns in both snapshots; missing: {missing}")
    values = [c for c in new.columns if c not in keys and c not in ignore and c in old.columns]
    columns = [*keys, *values]
    new = new.select(columns)
    kinds, had = new.schema, old.schema
    old = old.select([c if had[c] == kinds[c] else pl.col(c).cast(kinds[c]) for c in columns])
    lined_up = old.height == new.height and old.select(keys).equals(new.select(keys))
    if lined_up:
        return Diff() if old.equals(new) else _lined_up(old, new, keys, values)
    if old.height == new.height and old.sort(keys).equals(new.sort(keys)):
        return Diff()
    joined = old.with_columns(pl.lit(True).alias(_OLD)).join(
        new.with_columns(pl.lit(True).alias(_NEW)),
        on=list(keys),
        how="full",
        coalesce=True,
        suffix=_SUFFIX,
        nulls_equal=True,
    )
    differs = {c: pl.col(c).ne_missing(pl.col(c + _SUFFIX)) for c in values}
    flag = {c: f"__differs_{i}" for i, c in enumerate(values)}
    one_side = pl.col(_OLD).is_null() | pl.col(_NEW).is_null()
    # A revision touches few rows: everything after this works on those only, with each
    # column's verdict computed once and their keys encoded once. Each step is one query:
    # on a few rows, a query's fixed cost is what a diff pays.
    touched = (
        (
            joined.lazy()
            .with_columns(**{flag[c]: differs[c] for c in values})
            .filter(one_side | pl.any_horizontal([pl.col(f) for f in flag.values()]))
            if values
            else joined.lazy().filter(one_side)
        )
        .with_columns(pl.struct(list(keys)).struct.json_encode().alias(_KEY))
        .collect()
    )
    if touched.is_empty():
        return Diff()
    both = pl.col(_OLD).is_not_null() & pl.col(_NEW).is_not_null()
    [counts] = touched.select(
        pl.col(_OLD).is_null().sum().alias(_NEW),
        pl.col(_NEW).is_null().sum().alias(_OLD),
        both.sum().alias(_KEY),
        *[(both & pl.col(flag[c])).sum().alias(c) for c in values],
    ).iter_rows(named=True)
    key_json = pl.col(_KEY).alias("key_json")
    rows = touched.lazy()
    parts = []
    if counts[_NEW]:
        added = rows.filter(pl.col(_OLD).is_null())
        parts.append(_whole_rows(added, "added", key_json, [c + _SUFFIX for c in values], values))
    if counts[_OLD]:
        removed = rows.filter(pl.col(_NEW).is_null())
        parts.append(_whole_rows(removed, "removed", key_json, values, values))
    changed = [c for c in values if counts[c]]
    for column in changed:
        parts.append(
            _changed_values(rows.filter(both & pl.col(flag[column])), column, touched, key_json)
        )
    detail = pl.concat(parts, how="vertical").collect()
    by_column = detail.filter(pl.col("change") == "changed").partition_by("column", as_dict=True)
    summaries = {
        column: ColumnChange(
            counts[column], _largest(rows["abs_change"]), _largest(rows["rel_change"])
        )
        for (column,), rows in by_column.items()
    }
    return Diff(
        counts[_NEW], counts[_OLD], counts[_KEY], {c: summaries[c] for c in changed}, detail
    )


def _lined_up(
    old: pl.DataFrame, new: pl.DataFrame, keys: Sequence[str], values: Sequence[str]
) -> Diff:
    """The diff of two snapshots holding the same keys in the same order (a capture of the
    same minutes, the usual revision): no row added or removed, each value compared in place,
    and only the rows that differ looked at further, with the join's verdicts and detail. A
    revision touches a few rows, where each query's fixed cost is what a diff pays: one query
    finds them, and the rest are operations on the columns themselves."""
    if not values:
        return Diff()
    differs = old.hstack([new[c].alias(c + _SUFFIX) for c in values]).select(
        pl.col(c).ne_missing(pl.col(c + _SUFFIX)) for c in values
    )
    touched = reduce(operator.or_, differs.get_columns())
    if not touched.any():
        return Diff()
    rows = touched.arg_true()
    before, after, differs = old[rows], new[rows], differs[rows]
    key_json = before.select(pl.struct(list(keys)).struct.json_encode()).to_series()
    changes: dict[str, ColumnChange] = {}
    parts = []
    for column in values:
        changed = differs[column]
        count = int(changed.sum())
        if not count:
            continue
        was, now = before[column].filter(changed), after[column].filter(changed)
        if was.dtype.is_numeric():
            by, relatively = _changes(column)
            sides = pl.DataFrame({column: was, column + _SUFFIX: now})
            absolute, relative = sides.select(by, relatively.alias("relative")).get_columns()
        else:
            absolute = relative = pl.Series([None] * count, dtype=pl.Float64)
        parts.append(
            pl.DataFrame(
                {
                    "change": pl.Series(["changed"] * count, dtype=pl.String),
                    "key_json": key_json.filter(changed),
                    "column": pl.Series([column] * count, dtype=pl.String),
                    "old_value": was.cast(pl.String),
                    "new_value": now.cast(pl.String),
                    "abs_change": absolute,
                    "rel_change": relative,
                }
            )
        )
        changes[column] = ColumnChange(count, _largest(absolute), _largest(relative))
    return Diff(0, 0, rows.len(), changes, pl.concat(parts, how="vertical"))


def _whole_rows(
    rows: pl.LazyFrame, change: str, key_json: pl.Expr, source: list[str], names: list[str]
) -> pl.LazyFrame:
    """One detail row per added or removed row, its values as JSON on the side that has it."""
    row_json = pl.struct([pl.col(s).alias(n) for s, n in zip(source, names, strict=True)])
    values = row_json.struct.json_encode() if names else pl.lit("{}")
    side = ("new_value", "old_value") if change == "added" else ("old_value", "new_value")
    return rows.select(
        change=pl.lit(change),
        key_json=key_json,
        column=pl.lit(None, pl.String()),
        **{side[0]: values, side[1]: pl.lit(None, pl.String())},
        abs_change=pl.lit(None, pl.Float64()),
        rel_change=pl.lit(None, pl.Float64()),
    ).select(list(DETAIL_SCHEMA))


def _changes(column: str) -> tuple[pl.Expr, pl.Expr]:
    """A numeric column's absolute change |new − old| and relative change (new − old) / |old|
    (null where old is 0 or null), as Float64."""
    old, new = pl.col(column).cast(pl.Float64), pl.col(column + _SUFFIX).cast(pl.Float64)
    delta = new - old
    return delta.abs(), pl.when(old != 0).then(delta / old.abs()).cast(pl.Float64)


def _changed_values(
    rows: pl.LazyFrame, column: str, touched: pl.DataFrame, key_json: pl.Expr
) -> pl.LazyFrame:
    """One detail row per changed value of `column`: old and new value, and for a numeric
    column the absolute and relative change."""
    none = pl.lit(None, pl.Float64)
    absolute, relative = _changes(column) if touched.schema[column].is_numeric() else (none, none)
    return rows.select(
        change=pl.lit("changed"),
        key_json=key_json,
        column=pl.lit(column),
        old_value=pl.col(column).cast(pl.String),
        new_value=pl.col(column + _SUFFIX).cast(pl.String),
        abs_change=absolute,
        rel_change=relative,
    )


def _largest(changes: pl.Series) -> float | None:
    """The change of largest magnitude, with its sign (the rise, of a rise and a fall as
    large: whatever order the rows came in); None when every change is null or NaN."""
    found = changes.cast(pl.Float64).to_numpy()
    known = found[~np.isnan(found)]
    if not known.size:
        return None
    magnitude = np.abs(known)
    return float(known[magnitude == magnitude.max()].max())
