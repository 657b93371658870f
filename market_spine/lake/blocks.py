"""Trade dates split into blocks that one predicate can replace, and the read → compute → replace
loop that derived datasets run over them (one atomic commit per block)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import polars as pl

from market_spine.lake.commits import Replacement, Unread
from market_spine.lake.store import Lake


def contiguous_blocks(days: list[date]) -> list[tuple[date, date]]:
    """Split sorted trade dates into runs with no weekday missing, so each run is one predicate."""
    blocks: list[tuple[date, date]] = []
    for day in days:
        if blocks:
            start, end = blocks[-1]
            gap = [end + timedelta(d) for d in range(1, (day - end).days)]
            if all(g.weekday() >= 5 for g in gap):
                blocks[-1] = (start, day)
                continue
        blocks.append((day, day))
    return blocks


@dataclass
class Previous:
    """What a rebuild's days held before it, gathered from its own replacements (each hands
    back the rows it replaced) so nothing reads them a second time: pass one to
    `rebuild_blocks`, which fills it. `version` is the table version the first replacement
    read (None: the table did not exist yet)."""

    frames: list[pl.DataFrame] = field(default_factory=list)
    version: int | None = None
    #: Damaged files the replacements removed unread: `frames` lack their rows.
    damaged: list[Unread] = field(default_factory=list)

    def add(self, replacement: Replacement, kept: pl.DataFrame | None = None) -> None:
        """Take in one replacement's rows, and the rows of its days it `kept` (outside its
        bounds), which it did not change."""
        if replacement.replaced is None:
            raise ValueError("a replacement gathered as Previous must return its replaced rows")
        if not self.frames:
            self.version = replacement.read_version
        self.frames.append(replacement.replaced)
        self.damaged += replacement.damaged
        if kept is not None:
            self.frames.append(kept)

    def rows(self) -> pl.DataFrame:
        """Every row the days held before the rebuild (no columns before any replacement)."""
        return pl.concat(self.frames, how="vertical_relaxed") if self.frames else pl.DataFrame()


#: Given a block's source rows and the rows computed from them, the days whose replacement must
#: cover only part of the day, each with the extra `between` conditions that bound it.
Narrowing = Callable[[pl.DataFrame, pl.DataFrame], Mapping[date, Mapping[str, tuple[Any, Any]]]]


def rebuild_blocks(
    lake: Lake,
    days: list[date],
    source: str,
    target: str,
    compute: Callable[[pl.DataFrame], pl.DataFrame],
    run_id: str,
    partition_by: list[str],
    equals: dict[str, Any] | None = None,
    metadata_of: Callable[[pl.DataFrame], dict[str, Any]] | None = None,
    narrow: Narrowing | None = None,
    previous: Previous | None = None,
) -> pl.DataFrame:
    """For each contiguous block of days (within `equals`, e.g. one symbol): read `source`,
    compute, and atomically replace that block of `target` (one commit per block, its metadata
    the run id plus `metadata_of(rows)`).

    `narrow` names the days the computed rows cover only in part (a capture of a live session):
    each is replaced in a commit of its own within its bounds, so the rows outside them that
    another writer landed stay. Returns every row the days hold after it: the rows written,
    and a narrowed day's rows kept outside its bounds. A `previous` given is filled with what
    the days held before, from the replacements themselves."""
    frames = []
    for start, end in contiguous_blocks(days):
        block = {"trade_date": (start, end)}
        source_rows = lake.read(source, equals=equals, between=block)
        rows = compute(source_rows)
        bounds = dict(narrow(source_rows, rows)) if narrow else {}
        within = [d for d in days if start <= d <= end]
        for first, last in _pieces(within, bounds):
            piece = {"trade_date": (first, last), **bounds.get(first, {})}
            part = rows if (first, last) == (start, end) else _rows_in(rows, first, last)
            replacement = lake.replace(
                target,
                part,
                equals=equals,
                between=piece,
                partition_by=partition_by,
                metadata={"run_id": run_id, **(metadata_of(part) if metadata_of else {})},
                return_replaced=previous is not None,
            )
            frames.append(part)
            kept = None
            if first in bounds:
                held = lake.read(target, equals={**(equals or {}), "trade_date": first})
                kept = held.filter(~_matches(piece))
                frames.append(kept.select(part.columns))
            if previous is not None:
                previous.add(replacement, kept)
    return pl.concat(frames)


def _pieces(days: list[date], bounds: Mapping[date, Any]) -> list[tuple[date, date]]:
    """`days` (one contiguous block) as runs to replace: each bounded day alone, the days
    between them together."""
    pieces: list[tuple[date, date]] = []
    run: list[date] = []
    for day in days:
        if day in bounds:
            if run:
                pieces.append((run[0], run[-1]))
                run = []
            pieces.append((day, day))
        else:
            run.append(day)
    if run:
        pieces.append((run[0], run[-1]))
    return pieces


def _matches(between: Mapping[str, tuple[Any, Any]]) -> pl.Expr:
    return pl.all_horizontal(pl.col(c).is_between(lo, hi) for c, (lo, hi) in between.items())


def _rows_in(rows: pl.DataFrame, first: date, last: date) -> pl.DataFrame:
    return rows.filter(pl.col("trade_date").is_between(first, last))
