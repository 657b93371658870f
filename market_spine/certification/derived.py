"""Judging the partitions of a derived dataset (daily bars, continuous series, greeks, the vol
surface, intraday quotes) where they are computed: the state the derived rule gives them from
their inputs' newest judgment and their own certifying checks, written to the readiness log with
their completeness, anomalies, capture, compute time and the reason for their state, and
their flagged rows beside the data. Their transitions are recorded in the certifications as a
captured dataset's are, and so are their revisions: a partition recomputed with other values
than it held (its input was revised) gets a revision record from a keyed diff of the two.

Domains say which datasets a derived one is computed from; this module never imports one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import polars as pl

from market_spine.catalog.vocabulary import DatasetSpec
from market_spine.certification import flags as anomaly_flags
from market_spine.certification import ledger
from market_spine.certification.certify import (
    Before,
    Certified,
    Judged,
    Partition,
    capture_time,
    checks_json,
    newest_capture,
    outcome_of,
    revision_diff,
    revision_of,
    selected_checks,
)
from market_spine.certification.readiness import (
    Completeness,
    Judgment,
    log_rows,
    readiness_rows,
    shortfall,
    speaking_for,
    worst_state,
)
from market_spine.certification.rules import DerivedEvidence, derive, missing
from market_spine.certification.tables import READINESS_LOG
from market_spine.certification.withdrawal import dependents, withdrawal_transitions, withdrawn
from market_spine.check_kit import CheckDef, CheckOutcome, rows_by
from market_spine.lake.blocks import Previous
from market_spine.lake.store import Lake


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
    replaced: tuple[DatasetSpec, Before] | None = None,
) -> Certified:
    """Judge the run's `partitions` of `dataset`, just computed (`written`, its rows selected
    by `columns` as each Partition's values) from the same partitions of `inputs` (the
    datasets it is computed from; none for a capture of its own). A capture's time is its
    capture id's, or `now` (the market clock) when that is earlier; rows without a capture id
    take their inputs' newest. Records each partition's readiness, one row per entry of its
    `completeness` (by partition key) with the entry's own counts, and its state and reason:
    where an entry carries its own verdicts (a continuous series), from those and the input
    rows of its symbol, so one incomplete series fails only itself. Records every change of
    state as a transition in the certifications, and the rows its checks flagged; returns
    each partition's state and the `certified` verdicts (never a Dagster check of its own:
    shown in asset metadata). A partition (or symbol) left uncertified makes the same one of
    every `derived` dataset (computed from this one) failed with it, or else preliminary,
    until it is computed again. With the rows the run `replaced` (and the dataset's spec,
    whose keys the diff matches rows by), a partition whose values changed gets a revision
    record and its row detail, as a captured one does."""
    started = time.perf_counter()
    days = [p.trade_date for p in partitions]
    first, last = (min(days), max(days)) if days else (None, None)
    given = _newest_rows(lake, inputs, first, last)
    before = _newest_rows(lake, (dataset,), first, last)
    captures = _input_captures(given) if "capture_id" not in written.columns else {}
    rows = rows_by(written, columns, [p.values for p in partitions])
    version = lake.version(dataset)
    recorded_at = datetime.now(UTC)
    flags = anomaly_flags.gathered(
        dataset, judged.verdicts, [p.key for p in partitions], run_id, recorded_at
    )
    outcomes, found, ready, transitions = {}, {}, [], []
    revisions: list[dict[str, Any]] = []
    details: list[pl.DataFrame] = []
    old_rows = {}
    if replaced is not None and replaced[1].rows.width:
        old_rows = rows_by(replaced[1].rows, columns, [p.values for p in partitions])
    for p in partitions:
        capture = newest_capture(rows[p.values]) or captures.get(p.key)
        old = old_rows.get(p.values)
        if replaced is not None and old is not None and old.height:
            # A first computation is no revision; a recomputation with other values is.
            spec, held = replaced
            diff = revision_diff(spec, old, rows[p.values])
            if not diff.empty:
                old_capture = newest_capture(old) or capture
                revision, detail = revision_of(
                    dataset,
                    p,
                    diff,
                    (held.version, version),
                    (old_capture, capture),
                    run_id,
                    recorded_at,
                )
                revisions.append(revision)
                details.append(detail)
        captured_at = min(capture_time(capture, now), now)
        inputs_of = {d: given.get((d, p.key), []) for d in inputs}
        decision = derive(
            _evidence(inputs_of, None, captured_at, p.final_at, judged.blocking(p.key))
        )
        found[p.key] = decision.state
        outcomes[p.key] = outcome_of(decision.state, decision.reason, capture, p.final_at)
        prior = {r["symbol"]: r["state"] for r in before.get((dataset, p.key), [])}
        for entry in (completeness or {}).get(p.key, ()) or [Completeness(p.symbol)]:
            blocking = judged.blocking(p.key, entry.verdicts)
            own = entry.capture_id or capture
            own_at = min(capture_time(own, now), now) if entry.capture_id else captured_at
            evidence = _evidence(inputs_of, entry.symbol, own_at, p.final_at, blocking, entry)
            mine = derive(evidence)
            if entry.absent:
                # Derived data is recomputed, never revised: absent is missing, whatever before.
                mine = missing(None, False, entry.absent)
            judgment = Judgment(
                mine.state,
                own,
                own_at,
                p.final_at,
                recorded_at,
                run_id,
                version,
                mine.reason,
            )
            for row in readiness_rows(dataset, p, [entry], flags, judgment):
                ready.append(row)
                previous = prior.get(row["symbol"])
                if previous != row["state"]:
                    summary = checks_json(judged, p.key, entry.verdicts)
                    transitions.append(ledger.transition_of(row, previous, summary))
    days_of = {p.key: p.trade_date for p in partitions}
    fallen = withdrawn(
        lake, found, days_of, derived, run_id, recorded_at, counts=ready, source=dataset
    )
    transitions += withdrawal_transitions(fallen)
    ledger.record(lake, transitions, revisions, details, run_id, [*ready, *fallen], flags)
    return Certified(outcomes, found, len(revisions), time.perf_counter() - started)


def _evidence(
    inputs: Mapping[str, Sequence[Mapping[str, Any]]],
    symbol: str | None,
    captured_at: datetime,
    final_at: datetime,
    blocking: Mapping[str, bool | None],
    entry: Completeness | None = None,
) -> DerivedEvidence:
    """What a derived partition's `symbol` (None: the whole partition) is judged on: each
    input's state and shortfall from its readiness rows that speak for that symbol. An input
    whose partition was judged on another contract than the one `entry` is of says nothing
    about it and is left out (a continuous series holding the next contract is not the front
    contract's bars): that symbol stands on its own checks and capture."""
    instrument = entry.instrument if entry is not None else None
    spoken = {
        d: found
        for d, rows in inputs.items()
        if (found := speaking_for(rows, symbol, instrument)) or not rows
    }
    return DerivedEvidence(
        {d: worst_state(rows) for d, rows in spoken.items()},
        captured_at,
        final_at,
        blocking,
        {d: text for d, rows in spoken.items() if (text := shortfall(rows))},
    )


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
    previous: tuple[DatasetSpec, Previous] | None = None,
) -> Certified:
    """Judge the run's `partitions` of the asset of `dataset` (`judge_derived`), just computed
    as `rows` (selected per partition by `columns`), from the same partitions of the datasets
    `computed_from` names for it (none: a capture of its own), with the verdicts of its
    `checks` the run evaluated and each partition's `completeness`; withdraws the
    certification of the datasets computed from it where it is left uncertified. `previous`
    (the dataset's spec, and what the rebuild's replacements handed back) records a revision
    of each partition recomputed with other values."""
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
        None if previous is None else (previous[0], Before.gathered(previous[1])),
    )


def _newest_rows(
    lake: Lake, datasets: Sequence[str], first: date | None, last: date | None
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The newest readiness row of each symbol of each partition of `datasets` with a trade
    date in [first, last], by (dataset, partition key): its state and reason, capture, and
    what it holds against what it owes."""
    if not datasets or first is None or last is None or not lake.exists(READINESS_LOG):
        return {}
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for dataset in datasets:
        rows = log_rows(
            lake.read(
                READINESS_LOG, equals={"dataset": dataset}, between={"trade_date": (first, last)}
            )
        )
        newest = rows.sort("computed_at").unique(["partition", "symbol"], keep="last")
        for row in newest.to_dicts():
            found.setdefault((dataset, row["partition"]), []).append(row)
    return found


def _input_captures(given: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]]) -> dict[str, str]:
    """The newest capture each partition's inputs were judged on, by partition key (for
    rows that carry no capture id of their own, such as a surface)."""
    found: dict[str, str] = {}
    for (_, key), rows in given.items():
        for capture in (r.get("capture_id") for r in rows):
            if capture is not None and capture > found.get(key, ""):
                found[key] = capture
    return found
