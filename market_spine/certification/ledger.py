"""Reading and appending the trust layer's tables through the lake: each partition's current
certification, and the transitions and revisions a run records (one commit per table)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import cache
from typing import Any

import polars as pl
import pyarrow as pa
from deltalake.exceptions import CommitFailedError, DeltaError

from market_spine.audit import changes as audit_changes
from market_spine.catalog.vocabulary import conform
from market_spine.certification import judgment_index
from market_spine.certification.rules import State
from market_spine.certification.tables import (
    ANOMALY_FLAGS,
    ANOMALY_FLAGS_SCHEMA,
    CERTIFICATIONS,
    CERTIFICATIONS_SCHEMA,
    READINESS_LOG,
    READINESS_LOG_SCHEMA,
    REVISION_ROWS,
    REVISION_ROWS_SCHEMA,
    REVISIONS,
    REVISIONS_SCHEMA,
)
from market_spine.lake.conflicts import PartitionChanged
from market_spine.lake.maintenance import compact
from market_spine.lake.store import Lake
from market_spine.lake.writer import stored_schema
from market_spine.version import package_version

log = logging.getLogger(__name__)


def current_states(
    lake: Lake, dataset: str, first: date, last: date, partitions: Iterable[str] | None = None
) -> dict[str, State]:
    """The newest certification of each partition of `dataset` with a trade date in
    [first, last] (only `partitions` when given); a partition never judged is absent."""
    transitions = latest_transitions(
        lake, dataset, first, last, columns=["partition", "state", "recorded_at"]
    )
    if partitions is not None:
        transitions = transitions.filter(pl.col("partition").is_in(list(partitions)))
    return {p: State(s) for p, s in transitions.select("partition", "state").iter_rows()}


def latest_transitions(
    lake: Lake,
    dataset: str,
    first: date,
    last: date,
    columns: list[str] | None = None,
    by: Sequence[str] = ("partition",),
) -> pl.DataFrame:
    """The newest transition of each partition of `dataset` (or each distinct `by`, such as
    partition and symbol where series are judged apart) with a trade date in [first, last]
    (CERTIFICATIONS_SCHEMA, or `columns` of it, which must hold `by`), empty when nothing was
    judged."""
    if not lake.exists(CERTIFICATIONS):
        schema = CERTIFICATIONS_SCHEMA
        return pl.DataFrame(schema={c: schema[c] for c in columns or schema})
    rows = lake.read(
        CERTIFICATIONS,
        equals={"dataset": dataset},
        between={"trade_date": (first, last)},
        columns=columns,
    )
    return rows.sort("recorded_at").unique(list(by), keep="last", maintain_order=True)


def transition_of(
    row: Mapping[str, Any], previous: str | None, checks_json: str | None = None
) -> dict[str, Any]:
    """The certification transition (CERTIFICATIONS_SCHEMA) a readiness row records when its
    state differs from `previous` (None: never judged): a derived partition's judgment, or a
    withdrawal, recorded as a captured partition's is."""
    return {
        **{c: row.get(c) for c in ("dataset", "partition", "trade_date", "symbol", "state")},
        "previous_state": previous,
        **{c: row.get(c) for c in ("reason", "capture_id", "captured_at", "final_at")},
        "run_id": row.get("run_id"),
        "code_version": package_version(),
        "delta_version": row.get("delta_version"),
        "checks_json": checks_json,
        "recorded_at": row.get("computed_at"),
    }


def record(
    lake: Lake,
    transitions: Sequence[dict],
    revisions: Sequence[dict],
    detail: Sequence[pl.DataFrame],
    run_id: str,
    readiness: Sequence[dict] = (),
    flags: pl.DataFrame | None = None,
) -> None:
    """Record a run's transitions (dicts of CERTIFICATIONS_SCHEMA), revisions (of
    REVISIONS_SCHEMA) and their row detail, its readiness rows (of READINESS_LOG_SCHEMA) and
    anomaly flags (ANOMALY_FLAGS_SCHEMA).

    A local lake journals them all, with its index of each partition's newest judgment, in one
    transaction of its ledger (`Lake.journal_all`), and folds them into their tables every
    `journal.FOLD_EVERY` steps or before any read of them: a commit per table per step was
    most of certification's cost. A lake on object storage appends them, one commit per table
    that has rows, side by side (`Lake.append_all`). The readiness
    rows, whose newest state the next judgment takes as the partition's, are committed only
    after the transitions landed, so a judgment never runs ahead of the transition it records
    (a run that failed between them finds the old state and records the transition again). A
    run judges one dataset, so each file's statistics let a read of another skip it."""
    writes: list[tuple[str, pl.DataFrame | pa.Table]] = []
    if transitions:
        writes.append((CERTIFICATIONS, _records(transitions, CERTIFICATIONS)))
    if revisions:
        writes.append((REVISIONS, _records(revisions, REVISIONS)))
        rows = pl.concat([conform(d, REVISION_ROWS_SCHEMA) for d in detail], how="vertical")
        if rows.height:
            writes.append((REVISION_ROWS, rows))
    if flags is not None and flags.height:
        writes.append((ANOMALY_FLAGS, conform(flags, ANOMALY_FLAGS_SCHEMA)))
    judgments = [(READINESS_LOG, _records(readiness, READINESS_LOG))] if readiness else []

    audit_changes.certifications(lake.local, transitions)
    if lake.journal is not None:
        # One transaction for the step's records and its judgments' index: all or none.
        also = judgment_index.indexed(lake, readiness)
        lake.journal_all([*writes, *judgments], metadata={"run_id": run_id}, also=also)
        if lake.journal.due():
            fold(lake)
        return
    # With transitions, the judgments go after them; without, everything goes side by side.
    ahead, behind = (writes, judgments) if transitions else ([*writes, *judgments], [])
    committed = lake.append_all(ahead, metadata={"run_id": run_id})
    if behind:
        committed += lake.append_all(behind, metadata={"run_id": run_id})
    for info in committed:
        if info.dataset in KEPT_SMALL and info.version % COMPACT_CHECK_EVERY == 0:
            keep_small(lake, info.dataset)


_DICT_SCHEMAS = {
    CERTIFICATIONS: CERTIFICATIONS_SCHEMA,
    REVISIONS: REVISIONS_SCHEMA,
    READINESS_LOG: READINESS_LOG_SCHEMA,
}


@cache
def _arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema Delta stores `table`'s records in."""
    return stored_schema(pl.DataFrame(schema=_DICT_SCHEMAS[table]).to_arrow().schema)


def _records(rows: Sequence[Mapping[str, Any]], table: str) -> pa.Table:
    """A step's records of `table` (dicts of its schema) as Arrow, straight in the types Delta
    stores: a row or two go through no DataFrame, whose conversions cost more than the file."""
    return pa.Table.from_pylist(list(rows), schema=_arrow_schema(table))


#: The trust tables, each given a file by every run that writes it, and read whole or by
#: dataset (readiness, a read's certification, what changed): a write that leaves more than
#: COMPACT_AT files in one compacts it to a file per month, so a cold read opens a few files,
#: not one per run.
KEPT_SMALL = frozenset({READINESS_LOG, ANOMALY_FLAGS, CERTIFICATIONS, REVISIONS, REVISION_ROWS})
COMPACT_AT = 48
#: A commit adds one file, so the file count is looked at on every eighth version only (a
#: snapshot each run is a measurable share of certification): at most COMPACT_AT + 7 files.
COMPACT_CHECK_EVERY = 8


def fold(lake: Lake) -> None:
    """Fold the journaled trust records into their tables, compacting each that grew past
    COMPACT_AT files (a fold adds one)."""
    for info in lake.fold():
        if info.dataset in KEPT_SMALL:
            keep_small(lake, info.dataset)


def keep_small(lake: Lake, table: str) -> bool:
    """Compact `table` when it holds more than COMPACT_AT files; True when it did. A writer
    racing this one may compact it first: then this one leaves it to them."""
    if len(lake.snapshot(table).files) <= COMPACT_AT:
        return False
    try:
        compact(lake, table)
    except (CommitFailedError, DeltaError, PartitionChanged) as exc:
        log.info("%s: left compaction to a concurrent writer (%s)", table, exc)
        return False
    return True
