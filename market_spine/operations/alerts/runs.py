"""Observations of finished runs: each check evaluation (a freshness verdict per symbol for the
freshness SLA check), the run's outcome and any IB pacing violation in its logs.

Runs are read once they finish, by their update time, so the same reading works on the SQLite
instance (whose event storage ids are per run) and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._core.events import DagsterEventType, EngineEventData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus, RunRecord, RunsFilter
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    AUTO_RETRY_RUN_ID_TAG,
    PARTITION_NAME_TAG,
    WILL_RETRY_TAG,
)
from dagster._utils.error import SerializableErrorInfo

from market_spine.check_kit import is_finding
from market_spine.operations.alerts.conditions import Observation
from market_spine.operations.alerts.observe import OVERLAP, OwnersOf, Reading
from market_spine.operations.alerts.rules import Kind, Severity, Thresholds
from market_spine.operations.alerts.store import AlertStore
from market_spine.operations.freshness import FRESHNESS_CHECK_KEY
from market_spine.operations.retry import DAEMON_RETRY_WINDOW_S
from market_spine.operations.run_history import CHECKS_STOPPED_THE_RUN, run_datasets

#: Runs read per evaluation (runs read before, met again in the overlap, do not count); the
#: next evaluation goes on from the last one read. Also the size of a page of runs.
RUNS_PER_EVALUATION = 50
#: What TWS says when it refuses a request for pacing (error 162), and the platform's error.
PACING_MARKS = ("pacing violation", "PacingViolation")
#: Longest text of one metadata value carried in a message.
DETAIL_CHARS = 400
_FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]
_RUNS_MARK = "runs_updated_after"


# -- runs ------------------------------------------------------------------------------------


def read_runs(
    instance: dg.DagsterInstance,
    store: AlertStore,
    thresholds: Thresholds,
    now: datetime,
    owners_of: OwnersOf,
    job_datasets: Mapping[str, tuple[str, ...]] | None = None,
    reading: Reading | None = None,
) -> Reading:
    """Observations of every run finished since the last reading (the lookback on the first):
    its check evaluations, its outcome and its pacing violations, in the order runs finished.

    Runs are read page by page until RUNS_PER_EVALUATION new ones were read: however many runs
    read before fill the overlap, the reading goes past them, so the mark always moves on."""
    reading = reading or Reading()
    mark = store.mark(_RUNS_MARK)
    since = (
        datetime.fromtimestamp(float(mark), UTC)
        if mark
        else now - timedelta(hours=thresholds.lookback_hours)
    )
    newest = since
    read: set[str] = set()
    after = since - OVERLAP
    while len(read) < RUNS_PER_EVALUATION:
        records = instance.get_run_records(
            filters=RunsFilter(statuses=_FINISHED, updated_after=after),
            order_by="update_timestamp",
            ascending=True,
            limit=RUNS_PER_EVALUATION,
        )
        for record in records:
            run = record.dagster_run
            updated = record.update_timestamp.astimezone(UTC)
            if run.run_id in read or store.seen_run(run.run_id):
                newest = max(newest, updated)
                continue
            if len(read) == RUNS_PER_EVALUATION:
                break
            newest = max(newest, updated)
            read.add(run.run_id)
            entries = instance.all_logs(run.run_id)
            # A run whose plan was not stored (created outside a code location) still has
            # its job.
            datasets = run_datasets(run, instance) or (job_datasets or {}).get(run.job_name, ())
            reading.observations += run_observations(run, entries, datasets, owners_of)
            reading.runs.append((run.run_id, updated))
            if _retry_owed(run):
                reading.awaiting.append((run.run_id, updated))
        if len(records) < RUNS_PER_EVALUATION:
            break
        after = _next_page(records, after)
    reading.marks[_RUNS_MARK] = str(newest.timestamp())
    read_awaited_retries(instance, store, now, owners_of, job_datasets, reading)
    return reading


def _retry_owed(run: DagsterRun) -> bool:
    """A failed run the daemon decided to retry and has not launched the retry of yet."""
    return (
        run.status == DagsterRunStatus.FAILURE
        and run.tags.get(WILL_RETRY_TAG) == "true"
        and AUTO_RETRY_RUN_ID_TAG not in run.tags
    )


def read_awaited_retries(
    instance: dg.DagsterInstance,
    store: AlertStore,
    now: datetime,
    owners_of: OwnersOf,
    job_datasets: Mapping[str, tuple[str, ...]] | None,
    reading: Reading,
) -> None:
    """The failures of runs read while their automatic retry was to come, once it is clear
    the retry will not happen: the daemon could not launch it (it then sets
    `dagster/will_retry` false, e.g. when its code location has not loaded a dataset added
    since it started) or launched nothing within DAEMON_RETRY_WINDOW_S (no daemon, or it gave
    up). A launched retry settles the run: the retry's own outcome is alerted."""
    for run_id in store.awaited_retries():
        record = instance.get_run_record_by_id(run_id)
        if record is None or AUTO_RETRY_RUN_ID_TAG in record.dagster_run.tags:
            reading.settled.append(run_id)
            continue
        run = record.dagster_run
        ended = record.end_time or record.update_timestamp.timestamp()
        if _retry_owed(run) and now.timestamp() - ended <= DAEMON_RETRY_WINDOW_S:
            continue
        entries = instance.all_logs(run_id)
        why = retry_not_launched(entries) or (
            f"no automatic retry was launched within {DAEMON_RETRY_WINDOW_S:.0f} s"
            if _retry_owed(run)
            else "its automatic retry was not launched"
        )
        datasets = run_datasets(run, instance) or (job_datasets or {}).get(run.job_name, ())
        found = run_observations(run, entries, datasets, owners_of, retry_missing=why)
        reading.observations += [o for o in found if o.kind == Kind.RUN_FAILED and o.failing]
        reading.settled.append(run_id)


def retry_not_launched(entries: Sequence[EventLogEntry]) -> str | None:
    """What the retry daemon logged in the run when it could not retry it, on one line."""
    for entry in reversed(entries):
        event = entry.dagster_event
        if event is None or event.event_type != DagsterEventType.ENGINE_EVENT:
            continue
        message = entry.message or ""
        if message == "Failed to retry run" or "unable to retry" in message.lower():
            data = event.event_specific_data
            error = data.error if isinstance(data, EngineEventData) else None
            if error is not None:
                root = _root(error)
                return f"the automatic retry failed: {root.cls_name}: {_first_line(root)}"
            return f"the automatic retry failed: {message.strip().splitlines()[0]}"
    return None


def _next_page(records: Sequence[RunRecord], after: datetime) -> datetime:
    """Where the page after `records` (a full page) starts: past the update time of its last
    run but one, so runs updated in the same instant as its last run are read again (by id
    they are skipped) rather than lost. A page all of one instant can only go past it."""
    times = [r.update_timestamp.astimezone(UTC) for r in records]
    earlier = [t for t in times if t < times[-1]]
    return max(max(earlier) if earlier else times[-1], after)


def run_subject(run: DagsterRun, datasets: Sequence[str]) -> tuple[str, str]:
    """(subject, partition) of a run: its job (for the implicit asset job, its datasets) and
    its partition or partition range, so a later run of the same work clears its failure."""
    subject = run.job_name
    if subject.startswith("__"):
        subject = "assets " + ", ".join(datasets)
    tags = run.tags
    first, last = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if first and last:
        return subject, first if first == last else f"{first}..{last}"
    return subject, tags.get(PARTITION_NAME_TAG, "")


def _check_owners(seen: Observation, owners_of: OwnersOf) -> tuple[str, ...]:
    """Who a check's finding goes to: the owner the check itself names (a company dataset's
    rule may name one), else the owners of its datasets."""
    declared = seen.details.get("owner")
    if isinstance(declared, str) and declared:
        return (declared,)
    return owners_of(seen.datasets)


def run_observations(
    run: DagsterRun,
    entries: Sequence[EventLogEntry],
    datasets: tuple[str, ...],
    owners_of: OwnersOf,
    retry_missing: str | None = None,
) -> list[Observation]:
    """A finished run's check evaluations, then its outcome and its pacing verdict, each with
    the owners of its datasets. A failure the daemon is to retry is not alerted (its retry's
    outcome will be) unless `retry_missing` says why that retry will not come."""
    found: list[Observation] = []
    causes: list[str] = []
    run_cause: str | None = None
    stopped_by_checks = False
    pacing: list[str] = []
    for entry in entries:
        event = entry.dagster_event
        kind = event.event_type if event is not None else None
        if kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            for seen in check_observations(event.event_specific_data, _at(entry), run.run_id):
                found.append(replace(seen, owners=_check_owners(seen, owners_of)))
        elif kind == DagsterEventType.STEP_FAILURE and event.step_failure_data.error is not None:
            error = _root(event.step_failure_data.error)
            first = f"{error.cls_name}: {_first_line(error)}"
            if error.cls_name == CHECKS_STOPPED_THE_RUN:
                stopped_by_checks = True
            else:
                causes.append(f"{event.step_key}: {first}")
            if error.cls_name == "PacingViolation":
                pacing.append(first)
        elif kind == DagsterEventType.RUN_FAILURE:
            run_cause = (event.message or "the run failed").strip().splitlines()[0]
        elif any(m.lower() in entry.user_message.lower() for m in PACING_MARKS):
            pacing.append(entry.user_message.strip().splitlines()[0])
    subject, partition = run_subject(run, datasets)
    at = _at(entries[-1]) if entries else datetime.now(UTC)
    owners = owners_of(datasets)

    def seen(kind: Kind, failing: bool, summary: str, **details: Any) -> Observation:
        severity = Severity.WARNING if kind == Kind.PACING else Severity.ERROR
        return Observation(
            kind, subject, partition, failing, severity, summary, at, datasets, owners,
            run.run_id, details,
        )  # fmt: skip

    succeeded = run.status == DagsterRunStatus.SUCCESS
    # A run stopped only by its blocking checks: the check alerts already say what failed.
    only_checks = stopped_by_checks and not causes
    retried = run.tags.get(WILL_RETRY_TAG) == "true" and retry_missing is None
    if run.status == DagsterRunStatus.FAILURE and not retried and not only_checks:
        cause = causes[0] if causes else run_cause or "no cause recorded"
        summary = f"run {subject} failed: {cause}"
        details = {"job": run.job_name, "causes": causes[:5], **_launched(run)}
        if retry_missing is not None:
            summary += f" ({retry_missing})"
            details["retry"] = retry_missing
        found.append(seen(Kind.RUN_FAILED, True, summary, **details))
    elif succeeded:
        found.append(seen(Kind.RUN_FAILED, False, f"run {run.run_id} of {subject} succeeded"))
    if pacing:
        summary = f"IB pacing violation in run {subject}: {pacing[0]}"
        found.append(seen(Kind.PACING, True, summary, violations=len(pacing), first=pacing[0]))
    elif succeeded:
        summary = f"run {run.run_id} of {subject} finished without a pacing violation"
        found.append(seen(Kind.PACING, False, summary))
    return found


def _root(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The error that started it all: Dagster wraps a step's own exception in its own."""
    while error.cause is not None:
        error = error.cause
    return error


def _first_line(error: SerializableErrorInfo) -> str:
    """The error's message without its class name, first line only."""
    text = error.message.strip().splitlines()[0] if error.message.strip() else "no message"
    head, _, rest = text.partition(": ")
    return rest if rest and head.endswith(error.cls_name) else text


def _launched(run: DagsterRun) -> dict[str, str]:
    """Who launched the run and from where, from its tags."""
    return {k: v for k, v in run.tags.items() if k.startswith("market_spine/launched")}


def _at(entry: EventLogEntry) -> datetime:
    return datetime.fromtimestamp(entry.timestamp, UTC)


# -- checks ----------------------------------------------------------------------------------


def check_severity(evaluation: AssetCheckEvaluation) -> Severity:
    """How urgent a failed check is: a blocking one (it stops downstream assets) is critical,
    an ERROR one an error, a WARN one a warning."""
    if evaluation.severity == dg.AssetCheckSeverity.WARN:
        return Severity.WARNING
    return Severity.CRITICAL if evaluation.blocking else Severity.ERROR


def check_observations(
    evaluation: AssetCheckEvaluation, at: datetime, run_id: str | None
) -> list[Observation]:
    """One check evaluation: a freshness verdict per symbol for the freshness SLA check, else
    one observation per dataset, check and partition. Owners are filled in by the caller."""
    if not is_finding(evaluation.check_name):
        return []
    dataset = evaluation.asset_key.to_user_string()
    metadata = {k: _value(v) for k, v in evaluation.metadata.items()}
    if dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name) == FRESHNESS_CHECK_KEY:
        return freshness_observations(dataset, metadata, at, run_id)
    severity = check_severity(evaluation)
    name = f"{dataset}:{evaluation.check_name}"
    where = f" for {evaluation.partition}" if evaluation.partition else ""
    verdict = "passed" if evaluation.passed else "failed"
    return [
        Observation(
            Kind.CHECK_FAILED,
            subject=name,
            partition=evaluation.partition or "",
            failing=not evaluation.passed,
            severity=severity,
            summary=f"check {name} {verdict}{where}",
            at=at,
            datasets=(dataset,),
            run_id=run_id,
            details={**metadata, "blocking": bool(evaluation.blocking)},
        )
    ]


def freshness_observations(
    dataset: str, metadata: Mapping[str, Any], at: datetime, run_id: str | None
) -> list[Observation]:
    """The freshness SLA check's verdict per symbol it judged (`lag_minutes`): stale symbols
    fail, fresh ones pass; a verdict without per-symbol lags is one observation."""
    from market_spine.futures.freshness import FRESHNESS_SLA

    limit = int(FRESHNESS_SLA.total_seconds() // 60)
    lags = metadata.get("lag_minutes")
    stale = {s.strip() for s in str(metadata.get("stale_symbols") or "").split(",") if s.strip()}
    if not isinstance(lags, dict):
        lags = {"": None} if stale else {}
    found = []
    for symbol, lag in lags.items():
        failing = symbol in stale or (symbol == "" and bool(stale))
        age = "has no bar in its session" if lag is None else f"newest bar is {lag} min old"
        summary = (
            f"{dataset} {symbol} stale: {age} (SLA {limit} min)"
            if failing
            else f"{dataset} {symbol} fresh: {age}"
        )
        found.append(
            Observation(
                Kind.FRESHNESS,
                subject=dataset,
                partition=symbol,
                failing=failing,
                severity=Severity.ERROR,
                summary=summary,
                at=at,
                datasets=(dataset,),
                run_id=run_id,
                details={"lag_minutes": lag, "sla_minutes": limit},
            )
        )
    return found


def _value(value: Any) -> Any:
    """A metadata value as JSON-ready data, long text cut to DETAIL_CHARS."""
    raw = getattr(value, "value", value)
    if isinstance(raw, str | int | float | bool) or raw is None:
        return raw[:DETAIL_CHARS] if isinstance(raw, str) else raw
    text = str(raw)
    return raw if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "…"
