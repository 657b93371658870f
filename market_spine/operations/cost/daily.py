"""The cost per day in the lake, where the warehouse reads it: `operations/cost_daily`, one row per
UTC day × component × dataset (an asset key for what ran, a dataset for what is kept), refreshed
by `market-spine cost --record` and the daily cost job. Each refresh replaces the days of its
window; storage is measured when a day is recorded, so a past day keeps the bytes recorded on it
(a past day recorded for the first time holds the bytes of the last day measured before it, as
`storage_history` says). Today is recorded as far as it has gone: its storage and subscriptions
for the part of the day elapsed, so the days of a window sum to what `market-spine cost` reports
over it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from market_spine.errors import InvalidInput
from market_spine.lake.store import Lake
from market_spine.operations.cost.object_requests import Requests
from market_spine.operations.cost.prices import PriceSheet
from market_spine.operations.cost.report import (
    CostLine,
    group,
    home_object_requests,
    object_request_lines,
    priced_home,
    run_lines,
    storage_lines,
    subscription_lines,
)
from market_spine.operations.cost.storage import stored_bytes
from market_spine.operations.cost.storage_history import (
    Held,
    day_fractions,
    day_start,
    held_on,
    recorded_storage,
)
from market_spine.operations.cost.table import COST_DAILY, COST_DAILY_SCHEMA

#: Days a refresh covers unless told otherwise.
DEFAULT_DAYS = 7


def day_lines(
    instance: dg.DagsterInstance, prices: PriceSheet, day: date, fraction: float = 1.0
) -> tuple[list[CostLine], int]:
    """The run and subscription lines of one UTC day (`fraction` of it elapsed: the
    subscription's share), and how many runs recorded no usage."""
    costs = run_lines(instance, day_start(day), prices, until=day_start(day + timedelta(days=1)))
    return [*costs.lines, *subscription_lines(prices, costs.requests, fraction)], costs.unmetered


def _frame(day: date, lines: Sequence[CostLine], at: datetime) -> pl.DataFrame:
    rows = [
        {
            "day": day,
            "component": line.component,
            "dataset": line.key,
            "compute_usd": line.compute_usd,
            "requests_usd": line.requests_usd,
            "subscription_usd": line.subscription_usd,
            "storage_usd": line.storage_usd,
            "cpu_s": line.cpu_s,
            "peak_memory_mb": line.peak_memory_mb,
            "read_mb": line.read_mb,
            "written_mb": line.written_mb,
            "provider_requests": line.provider_requests,
            "current_bytes": line.current_bytes,
            "kept_bytes": line.kept_bytes,
            "runs": line.runs,
            "recorded_at": at,
            "object_requests_usd": line.object_requests_usd,
            "object_requests": sum(line.object_requests.values()),
        }
        for line in lines
    ]
    return pl.DataFrame(rows, schema=COST_DAILY_SCHEMA)


def record_cost_daily(
    instance: dg.DagsterInstance,
    lake: Lake,
    specs: Sequence[Any],
    home: Path,
    prices: PriceSheet,
    *,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
    object_requests: Callable[[datetime, datetime], Mapping[Requests, int]] | None = None,
) -> pl.DataFrame:
    """Replace the last `days` UTC days (today included, up to `now`) of `operations/cost_daily`
    with their cost by component and dataset, and return the rows written. Today's storage is
    measured now; an earlier day keeps the storage recorded on it, or takes the last one
    recorded before it (none before the first). The lake's object-store requests of each day
    are counted by `object_requests` (`report.home_object_requests`; none when None).
    InvalidInput for `days` < 1."""
    if days < 1:
        raise InvalidInput(f"--days {days}: record at least one day")
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    history: dict[date, Held] = {
        **recorded_storage(lake, before=today),
        today: stored_bytes(lake, home, list(specs)),
    }
    fractions = {day: 1.0 for day in day_fractions(day_start(first), day_start(today))}
    fractions[today] = (now - day_start(today)).total_seconds() / 86400.0
    frames = []
    for day, held in held_on(history, fractions).items():
        lines, _unmetered = day_lines(instance, prices, day, fractions[day])
        lines += storage_lines(held or (), prices, fractions[day])
        if object_requests is not None:
            until = min(day_start(day + timedelta(days=1)), now)
            lines += object_request_lines(object_requests(day_start(day), until), prices)
        frames.append(_frame(day, group(lines, "dataset"), now))
    rows = pl.concat(frames)
    metadata = {"first_day": first.isoformat(), "last_day": today.isoformat()}
    if lake.exists(COST_DAILY):
        lake.replace(COST_DAILY, rows, between={"day": (first, today)}, metadata=metadata)
    else:
        lake.append(COST_DAILY, rows, metadata=metadata)
    return rows


def record_home_cost(
    settings: Any, *, days: int = DEFAULT_DAYS, now: datetime | None = None
) -> pl.DataFrame:
    """`record_cost_daily` for a home (`Settings`): its instance, lake, warehouse and price
    sheet, up to `now` (the present by default); InvalidInput for a home without an instance
    or a bad price sheet."""
    from market_spine.catalog.registry import CATALOG

    instance, prices = priced_home(settings)
    with instance:
        return record_cost_daily(
            instance,
            settings.lake(),
            list(CATALOG),
            settings.home,
            prices,
            days=days,
            now=now,
            object_requests=home_object_requests(settings),
        )
