"""Withdrawing the certification of what was computed from a partition that is no longer
certified. A derived partition is judged when it is computed, so a later judgment of its input
(a re-import that fails a blocking check, a run that stops before the derived assets) would
otherwise leave it certified over data that failed; its newest readiness row is superseded by
a preliminary one until it is computed again.

Domains say which dataset is computed from which; this module never imports one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.certification.rules import State
from market_spine.certification.tables import READINESS_LOG, READINESS_LOG_SCHEMA
from market_spine.lake.store import Lake


def dependents(dataset: str, computed_from: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Every dataset computed, directly or through others, from `dataset`, in the order they
    are reached; `computed_from` maps each derived dataset to the datasets it is computed
    from."""
    found: list[str] = []
    frontier = [dataset]
    while frontier:
        source = frontier.pop(0)
        for derived, inputs in computed_from.items():
            if source in inputs and derived not in found and derived != dataset:
                found.append(derived)
                frontier.append(derived)
    return tuple(found)


def withdrawn(
    lake: Lake,
    states: Mapping[str, State],
    trade_dates: Mapping[str, date],
    derived: Sequence[str],
    run_id: str,
    at: datetime,
) -> list[dict[str, Any]]:
    """Readiness rows (READINESS_LOG_SCHEMA) that make preliminary every partition of the
    `derived` datasets still certified while the same partition of the dataset they are
    computed from is not: `states` gives that dataset's new state of each partition key just
    judged, `trade_dates` its trade date. Each row copies the derived partition's newest one,
    with the state, run and time of this judgment; none when nothing certified was computed
    from those partitions."""
    fallen = [key for key, state in states.items() if state is not State.CERTIFIED]
    if not fallen or not derived or not lake.exists(READINESS_LOG):
        return []
    days = [trade_dates[key] for key in fallen]
    newest = (
        lake.read(READINESS_LOG, between={"trade_date": (min(days), max(days))})
        .filter(pl.col("dataset").is_in(list(derived)) & pl.col("partition").is_in(fallen))
        .sort("computed_at")
        .unique(["dataset", "partition", "symbol"], keep="last", maintain_order=True)
    )
    certified = newest.filter(pl.col("state") == State.CERTIFIED.value)
    if certified.is_empty():
        return []
    return conform(
        certified.with_columns(
            state=pl.lit(State.PRELIMINARY.value),
            computed_at=pl.lit(at).cast(READINESS_LOG_SCHEMA["computed_at"]),
            run_id=pl.lit(run_id),
        ),
        READINESS_LOG_SCHEMA,
    ).to_dicts()
