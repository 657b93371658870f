"""Certifying the partitions an asset just wrote: what domains call where their checks are
judged. For each partition it diffs the rows replaced against the rows written, applies the
certification rule, records transitions and revisions in the lake, and gives the `certified`
check's verdict and the asset metadata that show the state in the Dagster UI.

Domains say what a partition is and when its data became final; this module never imports one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import polars as pl
from ulid import ULID

from market_spine.catalog.vocabulary import PROVENANCE_DESCRIPTIONS, DatasetSpec
from market_spine.certification import flags as anomaly_flags
from market_spine.certification import ledger
from market_spine.certification.diff import Diff, keyed_diff
from market_spine.certification.judged import (
    judged_rows,
    judged_states,
    last_judged,
    newest_judgments,
    unjudged_since,
)
from market_spine.certification.readiness import Completeness, Judgment, readiness_rows
from market_spine.certification.rules import Evidence, State, decide, missing
from market_spine.certification.tables import REVISION_ROWS_SCHEMA
from market_spine.certification.withdrawal import withdrawal_transitions, withdrawn
from market_spine.check_kit import CERTIFIED_CHECK, CheckDef, CheckOutcome, rows_by
from market_spine.lake.blocks import Previous
from market_spine.lake.commits import Unread
from market_spine.lake.store import Lake
from market_spine.version import package_version

#: Asset metadata keys of a materialization's certification.
CERTIFICATION_METADATA = "certification"
CERTIFICATION_COUNTS_METADATA = "certification_counts"
REVISIONS_METADATA = "revisions"
CERTIFICATION_REASONS_METADATA = "certification_reasons"
#: Uncertified partitions whose reason the asset metadata names; the rest are counted.
SHOWN_REASONS = 20
#: Columns that say where rows came from, not what they hold: a new capture of the same data
#: changes them and is no revision.
PROVENANCE = frozenset(PROVENANCE_DESCRIPTIONS)


def _judged_by_certify(_: object) -> CheckOutcome:
    raise TypeError(
        f"the {CERTIFIED_CHECK!r} check is judged by certification.certify over the other "
        "checks' verdicts; pass only the data checks to check_kit.judge"
    )


#: The asset check that shows each partition's certification in its metadata (`state`). It
#: fails only when a certifying check failed: a preliminary partition is normal while a session
#: is live and a revised one is the record of a correction, so neither turns the UI red.
CERTIFIED: CheckDef[Any] = CheckDef(
    CERTIFIED_CHECK,
    "The partition's certification (metadata `state`): certified once every certifying check "
    "passed on a capture taken after its data became final, preliminary before, revised after "
    "a certified partition changed. Fails only when a certifying check failed.",
    _judged_by_certify,
)


def with_certified(checks: Sequence[CheckDef[Any]]) -> tuple[CheckDef[Any], ...]:
    """An asset's data checks plus the `certified` check (for its specs and evaluations)."""
    return (*checks, CERTIFIED)


@dataclass(frozen=True)
class Partition:
    """One partition as certification sees it: its Dagster key, trade date, symbol (None when
    the partition is a whole day), the values of the run's `columns` that select its rows, and
    when its data became final (tz-aware)."""

    key: str
    trade_date: date
    symbol: str | None
    values: tuple[Any, ...]
    final_at: datetime


@dataclass(frozen=True)
class Before:
    """The rows a run replaced (every partition of its trade-date range) and the table version
    they were read at (None: no table yet)."""

    rows: pl.DataFrame
    version: int | None
    #: Damaged files the run replaced unread (a repair): `rows` lack theirs.
    damaged: tuple[Unread, ...] = ()

    @staticmethod
    def gathered(previous: Previous) -> Before:
        """What a rebuild's own replacements handed back (`rebuild_blocks(previous=...)`): the
        rows are read once, by the writes that replace them."""
        return Before(previous.rows(), previous.version, tuple(previous.damaged))

    def unread(self, p: Partition) -> Unread | None:
        """The damaged file that held rows of `p` and was replaced unread, if any."""
        return next((u for u in self.damaged if u.covers(p.symbol, p.trade_date)), None)


@dataclass(frozen=True)
class Certified:
    """A run's certification: each partition's `certified` verdict, its state, and the
    seconds it took (to weigh against the step)."""

    outcomes: dict[str, CheckOutcome]
    states: dict[str, State]
    revisions: int
    seconds: float = field(compare=False)

    def verdicts(
        self, verdicts: Mapping[str, Mapping[str, CheckOutcome]]
    ) -> dict[str, dict[str, CheckOutcome]]:
        """The data checks' verdicts with each partition's `certified` verdict added."""
        return {k: {**v, CERTIFIED_CHECK: self.outcomes[k]} for k, v in verdicts.items()}

    def metadata(self) -> dict[str, Any]:
        """Asset metadata: the state (`mixed` across partitions that differ), the count per
        state, the revisions recorded, and why the first SHOWN_REASONS uncertified partitions
        are not certified (by partition key)."""
        found = sorted(set(self.states.values()))
        counts = {s.value: sum(1 for v in self.states.values() if v is s) for s in found}
        reasons = {
            key: self.outcomes[key].metadata["reason"]
            for key, state in self.states.items()
            if state is not State.CERTIFIED
        }
        return {
            CERTIFICATION_METADATA: found[0].value if len(found) == 1 else "mixed",
            CERTIFICATION_COUNTS_METADATA: dg.MetadataValue.json(counts),
            REVISIONS_METADATA: self.revisions,
            CERTIFICATION_REASONS_METADATA: dg.MetadataValue.json(
                dict(list(reasons.items())[:SHOWN_REASONS])
            ),
        }


def selected_checks(context: dg.AssetExecutionContext, asset: dg.AssetKey) -> set[str]:
    """The names of `asset`'s checks this run evaluates (a check not selected is pending)."""
    return {k.name for k in context.selected_asset_check_keys if k.asset_key == asset}


@dataclass(frozen=True)
class Judged:
    """What a run's checks said: every data check, the verdicts by partition key, and the
    names of the checks the run evaluated."""

    checks: Sequence[CheckDef[Any]]
    verdicts: Mapping[str, Mapping[str, CheckOutcome]]
    selected: Collection[str]

    def blocking(
        self, key: str, own: Mapping[str, CheckOutcome] | None = None
    ) -> dict[str, bool | None]:
        """Each verdict on partition `key` of a check that gates its certification (blocking
        or certifying, `CheckDef.gates_certification`): False when it withholds
        certification, None when the check was not evaluated this run. `own` verdicts (of
        one symbol the partition holds) stand in for the partition's where given."""
        found = self.of(key, own)
        return {
            c.name: (
                not c.withholds_certification(found[c.name]) if c.name in self.selected else None
            )
            for c in self.checks
            if c.gates_certification
        }

    def of(
        self, key: str, own: Mapping[str, CheckOutcome] | None = None
    ) -> dict[str, CheckOutcome]:
        """The verdicts on partition `key`, with `own` verdicts standing in where given."""
        return {**self.verdicts[key], **(own or {})}


def certify(
    lake: Lake,
    spec: DatasetSpec,
    run_id: str,
    partitions: Sequence[Partition],
    columns: Sequence[str],
    before: Before,
    written: pl.DataFrame,
    judged: Judged,
    now: datetime,
    completeness: Mapping[str, Sequence[Completeness]] | None = None,
    derived: Sequence[str] = (),
) -> Certified:
    """Certify the run's `partitions` of `spec`'s table after `written` replaced `before`.

    `columns` select a partition's rows (e.g. symbol, trade_date). A capture's time is its
    capture id's, or `now` (the market clock, tz-aware) when that is earlier: a replay at a
    frozen instant saw the market as of that instant. Records every transition and revision,
    the rows the checks flagged, and each partition's readiness (with its `completeness` by
    partition key: one entry per symbol of a whole-day partition). A partition left
    uncertified makes the same partition of every `derived` dataset (computed from this one)
    failed with it, or else preliminary, until it is computed again.
    """
    started = time.perf_counter()
    dataset = spec.name
    days = [p.trade_date for p in partitions]
    # One narrow read of the readiness log serves the prior states, the diff (what each
    # partition's last judgment saw) and the withdrawals (what was computed from it and is
    # still certified).
    first, last = (min(days), max(days)) if days else (date.min, date.max)
    newest = newest_judgments(lake, [dataset, *derived] if days else [], first, last)
    judged_last = last_judged(newest, dataset)
    priors = judged_states(newest, dataset)
    keys = [p.values for p in partitions]
    new_rows = rows_by(written, columns, keys)
    old_rows = rows_by(before.rows, columns, keys) if before.rows.width else {}
    # A partition with no judgment asks the transitions table only when it held rows: one
    # that held none is a first write (or one whose rows and judgments retention deleted,
    # whose expiry stays in the transitions' history), and its prior is none.
    unjudged = [
        p.key
        for p in partitions
        if p.key not in priors and (_held(old_rows.get(p.values)) or before.unread(p) is not None)
    ]
    if unjudged:
        priors |= ledger.current_states(lake, dataset, first, last, unjudged)
    new_version = lake.version(dataset)
    recorded_at = datetime.now(UTC)
    outcomes: dict[str, CheckOutcome] = {}
    states: dict[str, State] = {}
    transitions: list[dict[str, Any]] = []
    revisions: list[dict[str, Any]] = []
    details: list[pl.DataFrame] = []
    ready: list[dict[str, Any]] = []
    flags = anomaly_flags.gathered(
        dataset, judged.verdicts, [p.key for p in partitions], run_id, recorded_at
    )
    for p in partitions:
        new, old = new_rows[p.values], old_rows.get(p.values)
        old_version = before.version
        lost = before.unread(p)
        judged_at = unjudged_since(judged_last.get(p.key), old, old_version)
        if lost is not None:
            # Its old rows sat in a damaged file: none can be compared, so the diff counts
            # every row as added (a certified partition is revised: its old rows are unknown).
            old = new.clear()
        elif judged_at is not None:
            # The replaced rows were written by a run that never certified them: what
            # changed is measured from the rows the last judgment saw.
            seen = judged_rows(lake, dataset, columns, p.values, judged_at)
            if seen is not None:
                old, old_version = seen, judged_at
        prior = priors.get(p.key)
        # A first write is no revision: its rows are counted, not diffed.
        revisable = prior is not None or (old is not None and old.height > 0)
        diff = revision_diff(spec, old, new) if revisable else Diff(added=new.height)
        capture = newest_capture(new)
        old_capture = newest_capture(old)
        captured_at = min(capture_time(capture, now), now)
        blocking = judged.blocking(p.key)
        decision = decide(Evidence(prior, captured_at, p.final_at, blocking, not diff.empty))
        absent = next((e.absent for e in (completeness or {}).get(p.key, ()) if e.absent), None)
        if absent and new.is_empty():
            decision = missing(prior, not diff.empty, absent)
        if lost is not None:
            decision = replace(decision, reason=f"{decision.reason}; {unread_reason(lost)}")
        states[p.key] = decision.state
        outcomes[p.key] = outcome_of(decision.state, decision.reason, capture, p.final_at)
        if decision.recorded:
            transitions.append(
                {
                    "dataset": dataset,
                    "partition": p.key,
                    "trade_date": p.trade_date,
                    "symbol": p.symbol,
                    "state": decision.state.value,
                    "previous_state": prior.value if prior else None,
                    "reason": decision.reason,
                    "capture_id": capture,
                    "captured_at": captured_at,
                    "final_at": p.final_at,
                    "run_id": run_id,
                    "code_version": package_version(),
                    "delta_version": new_version,
                    "checks_json": checks_json(judged, p.key),
                    "recorded_at": recorded_at,
                }
            )
        ready += readiness_rows(
            dataset,
            p,
            (completeness or {}).get(p.key, ()),
            flags,
            Judgment(
                decision.state,
                capture,
                captured_at,
                p.final_at,
                recorded_at,
                run_id,
                new_version,
                decision.reason,
            ),
        )
        if revisable and not diff.empty:
            revision, detail = revision_of(
                dataset,
                p,
                diff,
                (old_version, new_version),
                (old_capture, capture),
                run_id,
                recorded_at,
            )
            revisions.append(revision)
            details.append(detail)
    days_of = {p.key: p.trade_date for p in partitions}
    fallen = withdrawn(
        lake,
        states,
        days_of,
        derived,
        run_id,
        recorded_at,
        counts=ready,
        source=dataset,
        newest=newest,
    )
    transitions += withdrawal_transitions(fallen)
    ledger.record(lake, transitions, revisions, details, run_id, [*ready, *fallen], flags)
    return Certified(outcomes, states, len(revisions), time.perf_counter() - started)


def _held(rows: pl.DataFrame | None) -> bool:
    """Whether a partition held rows before the write replaced them."""
    return rows is not None and rows.height > 0


def revision_of(
    dataset: str,
    p: Partition,
    diff: Diff,
    versions: tuple[int | None, int | None],
    captures: tuple[str | None, str | None],
    run_id: str,
    recorded_at: datetime,
) -> tuple[dict[str, Any], pl.DataFrame]:
    """The revision record (REVISIONS_SCHEMA) of partition `p` of `dataset` whose rows changed
    as `diff` says between the old and new Delta `versions` and `captures`, and its row
    detail (REVISION_ROWS_SCHEMA): a captured partition's and a recomputed derived one's."""
    revision_id = str(ULID.from_datetime(recorded_at))
    record = {
        "revision_id": revision_id,
        "dataset": dataset,
        "partition": p.key,
        "trade_date": p.trade_date,
        "symbol": p.symbol,
        "rows_added": diff.added,
        "rows_removed": diff.removed,
        "rows_changed": diff.changed,
        "columns": ",".join(diff.columns),
        "column_changes_json": json.dumps({c: ch.as_dict() for c, ch in diff.columns.items()}),
        "old_version": versions[0],
        "new_version": versions[1],
        "old_capture_id": captures[0],
        "new_capture_id": captures[1],
        "run_id": run_id,
        "code_version": package_version(),
        "recorded_at": recorded_at,
    }
    stamps = {"revision_id": revision_id, "dataset": dataset, "trade_date": p.trade_date}
    detail = diff.detail.select(
        pl.lit(stamps[name], kind).alias(name) if name in stamps else pl.col(name).cast(kind)
        for name, kind in REVISION_ROWS_SCHEMA.items()
    )
    return record, detail


def unread_reason(lost: Unread) -> str:
    """Why a repaired partition has no diff: its old rows were in a damaged file."""
    return (
        f"repaired: the rows it replaced were in damaged file {lost.damage.path} "
        f"({lost.damage.problem}), replaced unread, so every row counts as added"
    )


def revision_diff(spec: DatasetSpec, old: pl.DataFrame | None, new: pl.DataFrame) -> Diff:
    """The partition's keyed diff on its revision values (neither provenance nor the values
    each source derives its own way); with no rows before, every new row is added."""
    if old is None or old.width == 0:
        old = new.clear()
    if not spec.keys:
        raise ValueError(f"{spec.name} declares no key columns in its catalog entry: add keys=")
    return keyed_diff(old, new, spec.keys, ignore=(*PROVENANCE, *spec.derived_values))


def newest_capture(rows: pl.DataFrame | None) -> str | None:
    """The newest capture id among `rows`; None without rows or captures."""
    if rows is None or "capture_id" not in rows.columns or rows.is_empty():
        return None
    return rows["capture_id"].max()  # type: ignore[return-value]


def capture_time(capture: str | None, now: datetime) -> datetime:
    """When a capture was taken, from its ULID; `now` when the rows carry no capture."""
    if capture is None:
        return now
    try:
        return ULID.from_str(capture).datetime
    except ValueError:
        return now


def outcome_of(state: State, reason: str, capture: str | None, final_at: datetime) -> CheckOutcome:
    """The `certified` check's verdict on a partition in `state`: failed only when it failed."""
    return CheckOutcome(
        state is not State.FAILED,
        {
            "state": state.value,
            "reason": reason,
            "capture_id": capture or "",
            "final_at": final_at.isoformat(),
        },
    )


def checks_json(judged: Judged, key: str, own: Mapping[str, CheckOutcome] | None = None) -> str:
    """The checks' summary a transition records: each check's verdict on partition `key`
    (`own` verdicts of one symbol standing in where given; None when not run), and whether it
    blocks or certifies."""
    found = judged.of(key, own)
    return json.dumps(
        {
            c.name: {
                "passed": found[c.name].passed if c.name in judged.selected else None,
                "blocking": c.blocking,
                "certifying": c.certifying,
            }
            for c in judged.checks
        },
        sort_keys=True,
    )
