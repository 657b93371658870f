"""Trade dates split into blocks that one predicate can replace, and the read → compute → replace
loop that derived datasets run over them (one atomic commit per block)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import polars as pl

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
) -> pl.DataFrame:
    """For each contiguous block of days (within `equals`, e.g. one symbol): read `source`,
    compute, and atomically replace that block of `target` (one commit per block, its metadata
    the run id plus `metadata_of(rows)`). Returns every row written."""
    frames = []
    for start, end in contiguous_blocks(days):
        block = {"trade_date": (start, end)}
        rows = compute(lake.read(source, equals=equals, between=block))
        lake.replace(
            target,
            rows,
            equals=equals,
            between=block,
            partition_by=partition_by,
            metadata={"run_id": run_id, **(metadata_of(rows) if metadata_of else {})},
        )
        frames.append(rows)
    return pl.concat(frames)
