"""The bytes each dataset held on each UTC day, from the storage history the platform records:
every refresh of `operations/cost_daily` (the daily cost job, `market-spine cost --record`)
measures the lake's and the warehouse's bytes and records them on its day. A day without a
measurement held what the last measured day before it held, never what a later day held (bytes
measured after a day say nothing about it); a day before the first measurement is unknown.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from market_spine.lake.store import Lake
from market_spine.operations.cost.storage import StoredBytes
from market_spine.operations.cost.table import COST_DAILY

#: What one day held: the bytes of each dataset measured (or carried from an earlier day).
Held = Sequence[StoredBytes]


def day_start(day: date) -> datetime:
    """Midnight UTC opening `day`."""
    return datetime.combine(day, time(), UTC)


def day_fractions(since: datetime, until: datetime) -> dict[date, float]:
    """Each UTC day that [since, until] overlaps, with the part of it inside the window (1.0
    for a whole day), oldest first."""
    fractions: dict[date, float] = {}
    day = since.astimezone(UTC).date()
    while day_start(day) < until:
        start = max(since, day_start(day))
        end = min(until, day_start(day + timedelta(days=1)))
        fractions[day] = (end - start).total_seconds() / 86400.0
        day += timedelta(days=1)
    return fractions


def recorded_storage(lake: Lake, before: date) -> dict[date, list[StoredBytes]]:
    """The bytes recorded per dataset in `operations/cost_daily` on each day before `before`."""
    if not lake.exists(COST_DAILY):
        return {}
    rows = lake.read(COST_DAILY, columns=["day", "dataset", "current_bytes", "kept_bytes"]).filter(
        pl.col("day") < before, (pl.col("current_bytes") + pl.col("kept_bytes")) > 0
    )
    history: dict[date, list[StoredBytes]] = {}
    for row in rows.sort("day", "dataset").iter_rows(named=True):
        held = StoredBytes(row["dataset"], row["current_bytes"], row["kept_bytes"])
        history.setdefault(row["day"], []).append(held)
    return history


def held_on(history: Mapping[date, Held], days: Iterable[date]) -> dict[date, Held | None]:
    """What each of `days` held: its own measurement, else the latest one before it; None for
    a day before any measurement."""
    known = sorted(history)
    held: dict[date, Held | None] = {}
    for day in days:
        at = bisect_right(known, day)
        held[day] = history[known[at - 1]] if at else None
    return held
