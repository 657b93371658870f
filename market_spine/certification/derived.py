"""Judging the partitions of a derived dataset (daily bars, continuous series, greeks, the vol
surface, intraday quotes) where they are computed: the state the derived rule gives them from
their inputs' newest judgment and their own blocking checks, written to the readiness log with
their completeness, anomalies, capture and compute time, and their flagged rows beside the
data. Derived datasets have no certification ledger of their own: their inputs' records the
transitions and revisions.

Domains say which datasets a derived one is computed from; this module never imports one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.certification import flags as anomaly_flags
from market_spine.certification import ledger
from market_spine.certification.certify import (
    Certified,
    Judged,
    Partition,
    capture_time,
    newest_capture,
    outcome_of,
    selected_checks,
)
from market_spine.certification.readiness import (
    COUNT_COLUMNS,
    Completeness,
    Judgment,
    least_complete,
    readiness_rows,
    shortfall,
)
from market_spine.certification.rules import DerivedEvidence, State, derive
from market_spine.certification.tables import READINESS_LOG, READINESS_LOG_SCHEMA
from market_spine.certification.withdrawal import dependents, withdrawn
from market_spine.check_kit import CheckDef, CheckOutcome, rows_by
from market_spine.lake.store import Lake


def judged_states(lake: Lake, dataset: str, first: date, last: date) -> dict[str, State]:
    """The newest judged state of each partition of `dataset` with a trade date in
    [first, last], by partition key, from the readiness log (which every judgment, certified
    or derived, writes); a partition never judged is absent."""
    if not lake.exists(READINESS_LOG):
        return {}
    rows = lake.read(
        READINESS_LOG,
        equals={"dataset": dataset},
        between={"trade_date": (first, last)},
        columns=["partition", "state", "computed_at"],
    )
    newest = rows.sort("computed_at").unique("partition", keep="last")
    return {p: State(s) for p, s in newest.select("partition", "state").iter_rows()}


def judge_derived(
    lake: Lake,
    dataset: str,
    inputs: Sequence[str],
    run_id: str,
    partitions: Sequence[Partition],
    columns: Sequence[str],
    written: pl.DataFrame,
    judged: Judged,
    now: datetime,
    completeness: Mapping[str, Sequence[Completeness]] | None = None,
    derived: Sequence[str] = (),
) -> Certified:
    """Judge the run's `partitions` of `dataset`, just computed (`written`, its rows selected
    by `columns` as each Partition's values) from the same partitions of `inputs` (the
    datasets it is computed from; none for a capture of its own). A capture's time is its
    capture id's, or `now` (the market clock) when that is earlier; rows without a capture id
    take their inputs' newest. Records each partition's readiness (with its `completeness`
    by partition key, no more complete than an uncertified input's: `least_complete`) and
    the rows its checks flagged; returns each partition's state and the `certified` verdicts
    (never a Dagster check of its own: shown in asset metadata). A partition left
    uncertified makes the same partition of every `derived` dataset (computed from this one)
    failed with it, or else preliminary, until it is computed again."""
    started = time.perf_counter()
    days = [p.trade_date for p in partitions]
    states = {d: judged_states(lake, d, min(days), max(days)) for d in inputs} if days else {}
    counted = _input_counts(lake, inputs, days)
    captures = _input_captures(lake, inputs, days) if "capture_id" not in written.columns else {}
    rows = rows_by(written, columns, [p.values for p in partitions])
    version = lake.version(dataset)
    recorded_at = datetime.now(UTC)
    flags = anomaly_flags.gathered(
        dataset, judged.verdicts, [p.key for p in partitions], run_id, recorded_at
    )
    outcomes, found, ready = {}, {}, []
    for p in partitions:
        capture = newest_capture(rows[p.values]) or captures.get(p.key)
        captured_at = min(capture_time(capture, now), now)
        blocking = judged.blocking(p.key)
        given = {d: counted.get((d, p.key), []) for d in inputs}
        lacks = {d: text for d, rows in given.items() if (text := shortfall(rows))}
        decision = derive(
            DerivedEvidence(
                {d: states[d].get(p.key) for d in inputs},
                captured_at,
                p.final_at,
                blocking,
                lacks,
            )
        )
        found[p.key] = decision.state
        outcomes[p.key] = outcome_of(decision.state, decision.reason, capture, p.final_at)
        mine = readiness_rows(
            dataset,
            p,
            (completeness or {}).get(p.key, ()),
            flags,
            Judgment(
                decision.state, capture, captured_at, p.final_at, recorded_at, run_id, version
            ),
        )
        # A certified input's accepted shortfall (vols that do not solve) is no shortfall of
        # what is computed from it; an uncertified one's is.
        short = [
            r
            for d, rows in given.items()
            if states[d].get(p.key) is not State.CERTIFIED
            for r in rows
        ]
        ready += [least_complete(row, short) for row in mine]
    days_of = {p.key: p.trade_date for p in partitions}
    ready += withdrawn(lake, found, days_of, derived, run_id, recorded_at, counts=ready)
    ledger.record(lake, [], [], [], run_id, ready, flags)
    return Certified(outcomes, found, 0, time.perf_counter() - started)


#: A partition's completeness (one entry per symbol it holds) from the partition, its checks'
#: verdicts by name and its rows.
CompletenessOf = Callable[
    [Partition, Mapping[str, CheckOutcome], pl.DataFrame], Sequence[Completeness]
]


def judge_derived_asset(
    context: dg.AssetExecutionContext,
    lake: Lake,
    dataset: str,
    computed_from: Mapping[str, Sequence[str]],
    checks: Sequence[CheckDef[Any]],
    rows: pl.DataFrame,
    columns: Sequence[str],
    partitions: Sequence[Partition],
    verdicts: Mapping[str, Mapping[str, CheckOutcome]],
    now: datetime,
    completeness: CompletenessOf,
) -> Certified:
    """Judge the run's `partitions` of the asset of `dataset` (`judge_derived`), just computed
    as `rows` (selected per partition by `columns`), from the same partitions of the datasets
    `computed_from` names for it (none: a capture of its own), with the verdicts of its
    `checks` the run evaluated and each partition's `completeness`; withdraws the
    certification of the datasets computed from it where it is left uncertified."""
    asset = dg.AssetKey(dataset.split("/"))
    frames = rows_by(rows, columns, [p.values for p in partitions])
    return judge_derived(
        lake,
        dataset,
        computed_from.get(dataset, ()),
        context.run.run_id,
        partitions,
        columns,
        rows,
        Judged(checks, verdicts, selected_checks(context, asset)),
        now,
        {p.key: completeness(p, verdicts[p.key], frames[p.values]) for p in partitions},
        dependents(dataset, computed_from),
    )


def _input_counts(
    lake: Lake, inputs: Sequence[str], days: list[date]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The newest readiness row of each symbol of each partition of `inputs` with a trade date
    among `days`, by (dataset, partition key): what each input holds against what it owes."""
    if not inputs or not days or not lake.exists(READINESS_LOG):
        return {}
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for dataset in inputs:
        rows = lake.read(
            READINESS_LOG,
            equals={"dataset": dataset},
            between={"trade_date": (min(days), max(days))},
            columns=["partition", "symbol", "computed_at", *COUNT_COLUMNS],
        )
        newest = rows.sort("computed_at").unique(["partition", "symbol"], keep="last")
        for row in newest.to_dicts():
            found.setdefault((dataset, row["partition"]), []).append(row)
    return found


def _input_captures(lake: Lake, inputs: Sequence[str], days: list[date]) -> dict[str, str]:
    """The newest capture each partition's inputs were judged on, by partition key (for
    rows that carry no capture id of their own, such as a surface)."""
    if not inputs or not days or not lake.exists(READINESS_LOG):
        return {}
    frames = [
        lake.read(
            READINESS_LOG,
            equals={"dataset": d},
            between={"trade_date": (min(days), max(days))},
            columns=["partition", "capture_id", "computed_at"],
        )
        for d in inputs
    ]
    rows = conform(pl.concat(frames), {c: READINESS_LOG_SCHEMA[c] for c in frames[0].columns})
    newest = rows.drop_nulls("capture_id").group_by("partition").agg(pl.col("capture_id").max())
    return dict(newest.iter_rows())
