"""Withdrawing certification where data changed without being judged. A derived partition is
judged when it is computed, so a later judgment of its input (a re-import that fails a
certifying check, a run that stops before the derived assets) would otherwise leave it certified
over data that failed; its newest readiness row is superseded by a failed one (a preliminary
one when the input is revised or preliminary) whose reason names the input and what it lacks,
until it is computed again. Every withdrawal is a transition, recorded as any other. A writer
that judges nothing (the stream landing minutes) turns a certified partition it changes into a
revised one.

Domains say which dataset is computed from which; this module never imports one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from market_spine.certification import ledger
from market_spine.certification.judged import newest_judgments
from market_spine.certification.readiness import log_rows, shortfall, speaking_for, worst_state
from market_spine.certification.rules import State
from market_spine.certification.tables import CERTIFICATIONS, READINESS_LOG
from market_spine.lake.store import Lake
from market_spine.version import package_version


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
    state: State | None = None,
    counts: Sequence[Mapping[str, Any]] = (),
    source: str = "what it was computed from",
    newest: pl.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Readiness rows (READINESS_LOG_SCHEMA) that withdraw the certification of every
    partition of the `derived` datasets still certified while the same partition of the
    dataset they are computed from (`source`) is not: `states` gives that dataset's new state
    of each partition key just judged, `trade_dates` its trade date, and its readiness rows
    among `counts` what each partition (or symbol) lacks and, where it judges symbols apart
    (a root's continuous series), each one's state. Each row copies the derived partition's
    newest one, its own counts kept, with the state (`state`, by default failed where the
    input failed and preliminary otherwise), the reason naming the input and what it lacks,
    and the run and time of this judgment; none when nothing certified was computed from
    those partitions. `newest` may hold the run's `newest_judgments` over the derived
    datasets and those trade dates, read already: only rows still certified are then read
    whole."""
    fallen = [key for key, judged in states.items() if judged is not State.CERTIFIED]
    if not fallen or not derived:
        return []
    days = [trade_dates[key] for key in fallen]
    if newest is None:
        newest = newest_judgments(lake, list(derived), min(days), max(days))
    # The run's few judgments, looked through in Python: a query costs more.
    still = [
        row
        for row in newest.iter_rows(named=True)
        if row["dataset"] in derived
        and row["partition"] in fallen
        and row["state"] == State.CERTIFIED.value
    ]
    if not still:
        return []
    newest = pl.DataFrame(still, schema=newest.schema)
    certified = _whole(lake, newest, min(days), max(days))
    rows = []
    for row in certified.to_dicts():
        key = row["partition"]
        judged_here = [c for c in counts if c.get("partition") == key]
        given = speaking_for(judged_here, row["symbol"], row.get("instrument"))
        if judged_here and not given:
            continue  # judged on another contract than this row holds: it says nothing of it
        judged = worst_state(given) if given else states[key]
        if judged is State.CERTIFIED:
            continue  # a symbol judged apart stands where its own input does
        now = state or (State.FAILED if judged is State.FAILED else State.PRELIMINARY)
        lacks = shortfall(given)
        lacking = f": {lacks}" if lacks else ""
        reason = (
            f"input {source} FAILED{lacking}"
            if judged is State.FAILED
            else f"computed from uncertified input: {source} is {judged.value}{lacking}"
        )
        rows.append(
            {**row, "state": now.value, "reason": reason, "computed_at": at, "run_id": run_id}
        )
    return rows


def _whole(lake: Lake, newest: pl.DataFrame, first: date, last: date) -> pl.DataFrame:
    """The readiness rows (READINESS_LOG_SCHEMA) `newest` names in its narrow columns."""
    on = ["dataset", "partition", "symbol", "computed_at"]
    rows = pl.concat(
        [
            log_rows(
                lake.read(
                    READINESS_LOG, equals={"dataset": d}, between={"trade_date": (first, last)}
                )
            )
            for d in newest["dataset"].unique(maintain_order=True)
        ],
        how="vertical",
    )
    wanted = newest.select(on).unique()
    return (
        rows.join(wanted, on=on, nulls_equal=True, how="semi")
        .sort("computed_at")
        .unique(["dataset", "partition", "symbol"], keep="last", maintain_order=True)
    )


def withdrawal_transitions(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The certification transitions (CERTIFICATIONS_SCHEMA) `withdrawn` readiness rows
    record: each from certified to its new state."""
    return [ledger.transition_of(r, State.CERTIFIED.value) for r in rows]


def changed_unjudged(
    lake: Lake,
    dataset: str,
    trade_dates: Mapping[str, date],
    derived: Sequence[str],
    source: str,
    at: datetime,
) -> list[str]:
    """Record that `source`, a writer that runs no checks, changed these partitions of
    `dataset` (trade date by partition key): each one certified becomes revised, with a
    transition naming the source (the next capture judges it again), and what was computed
    from it (`derived`) preliminary. Returns the partition keys it revised."""
    if not trade_dates or not lake.exists(CERTIFICATIONS):
        return []
    days = list(trade_dates.values())
    certified = ledger.latest_transitions(lake, dataset, min(days), max(days)).filter(
        pl.col("partition").is_in(list(trade_dates)) & (pl.col("state") == State.CERTIFIED.value)
    )
    if certified.is_empty():
        return []
    version = lake.version(dataset)
    transitions = [
        {
            **row,
            "state": State.REVISED.value,
            "previous_state": State.CERTIFIED.value,
            "reason": f"changed by {source}, which runs no checks: the next capture judges it",
            "run_id": source,
            "code_version": package_version(),
            "delta_version": version,
            "recorded_at": at,
        }
        for row in certified.to_dicts()
    ]
    revised = {key: State.REVISED for key in certified["partition"]}
    ready = withdrawn(lake, revised, trade_dates, (dataset,), source, at, State.REVISED)
    ready = [{**r, "reason": transitions[0]["reason"]} for r in ready]
    fallen = withdrawn(lake, revised, trade_dates, derived, source, at, source=dataset)
    transitions += withdrawal_transitions(fallen)
    ledger.record(lake, transitions, [], [], source, [*ready, *fallen])
    return list(revised)
