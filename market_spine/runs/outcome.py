"""What a finished run left in the instance: its failed checks and the one-line cause of failure
(the full trace stays in the run's logs, in the UI)."""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._serdes import deserialize_value
from dagster._utils.error import SerializableErrorInfo
from sqlalchemy import select

from market_spine.check_kit import summarize_failures
from market_spine.errors import LakeDamaged, retry_helps

#: The error of a step whose blocking checks failed (the run fails with it).
CHECKS_STOPPED_THE_RUN = "DagsterAssetCheckFailedError"


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> tuple[str, ...]:
    """`asset:check [partitions]` of every check the run evaluated as failed."""
    return summarize_failures(failed_evaluations(instance, run_id))


def checks_by_severity(
    instance: dg.DagsterInstance, run_id: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The run's failed checks (as `failed_checks`), and those of them of `warn` severity:
    a warning reports a finding, it does not fail what it judges."""
    evaluations = failed_evaluations(instance, run_id)
    warned = [e for e in evaluations if e.severity == dg.AssetCheckSeverity.WARN]
    return summarize_failures(evaluations), summarize_failures(warned)


def failed_evaluations(instance: dg.DagsterInstance, run_id: str) -> list[AssetCheckEvaluation]:
    """The run's failed check evaluations, in the order they were written. A range run
    evaluates a dozen checks per partition and nearly all pass: the instance's check rows
    (one per check and partition, kept with its verdict) name the failed ones, so only those
    events are read back, not every evaluation of the run."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage) or not storage.supports_asset_checks:
        records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        evaluations = [r.dagster_event.event_specific_data for r in records]  # type: ignore[union-attr]
        return [e for e in evaluations if not e.passed]  # type: ignore[union-attr]
    table = AssetCheckExecutionsTable
    query = (
        select(table.c.evaluation_event)
        .where(
            table.c.run_id == run_id,
            table.c.execution_status == AssetCheckExecutionRecordStatus.FAILED.value,
        )
        .order_by(table.c.evaluation_event_storage_id)
    )
    with storage.index_connection() as conn:
        events = [row[0] for row in conn.execute(query).fetchall()]
    entries = [deserialize_value(e, EventLogEntry) for e in events if e]
    return [e.dagster_event.event_specific_data for e in entries]  # type: ignore[union-attr,misc]


def root_cause(error: SerializableErrorInfo) -> str:
    """The culprit's message (`_culprit`) on one line, without Dagster's wrapping."""
    error = _culprit(error)
    message = " ".join(error.message.split())
    name = error.cls_name or ""
    # Python prints a class outside builtins with its module (`pkg.mod.Name: message`).
    head, sep, rest = message.partition(": ")
    if name and sep and (head == name or head.endswith(f".{name}")):
        message = rest
    return message


#: Fixes for failures whose message does not say one (the platform's own errors always do).
_FIXES = {
    "PermissionError": "make the home writable by this user, or set MARKET_SPINE_HOME to a "
    "folder it can write",
    "NotADirectoryError": "a file stands where the home expects a folder: move it away, or set "
    "MARKET_SPINE_HOME to another folder",
    "FileExistsError": "a file stands where the home expects a folder: move it away, or set "
    "MARKET_SPINE_HOME to another folder",
}


def failure_class(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The class name of the error behind the run's first failed step (see `_culprit`)."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        data = record.dagster_event.step_failure_data  # type: ignore[union-attr]
        if data is not None and data.error is not None:
            return _culprit(data.error).cls_name
    return None


def _culprit(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The outermost error that Dagster did not raise: the one the step's code raised, whose
    message says what failed and how to fix it (the platform's errors wrap a library's, e.g.
    a refused connection inside "ThetaTerminal at … still failing"). The innermost error when
    Dagster raised them all."""
    chain = [error]
    while chain[-1].cause is not None:
        chain.append(chain[-1].cause)
    raised_by_code = [e for e in chain if not (e.cls_name or "").startswith("Dagster")]
    return raised_by_code[0] if raised_by_code else chain[-1]


def damage_of(error: SerializableErrorInfo) -> str | None:
    """The LakeDamaged message behind a step's error, on one line: raised by the step itself,
    or quoted by a library it called (a dbt build whose query reached a damaged file's
    refusal); None when the step did not fail on damage."""
    chain = [error]
    while chain[-1].cause is not None:
        chain.append(chain[-1].cause)
    for e in chain:
        if e.cls_name == "LakeDamaged":
            return root_cause(e)
    return next((q for e in chain if (q := LakeDamaged.quoted_in(e.message))), None)


def failure_damage(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The LakeDamaged message the run's first failed step failed on (`damage_of`), or None."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        data = record.dagster_event.step_failure_data  # type: ignore[union-attr]
        if data is not None and data.error is not None:
            return damage_of(data.error)
    return None


def futile_retry(cls_name: str | None) -> str | None:
    """Why a step that failed with the error class `cls_name` fails the same way on a retry
    (a failed data-quality check, an error only a fix removes: bad input, a wrong setting, a
    missing subscription), or None when a retry may help. The classes must be imported."""
    if cls_name == CHECKS_STOPPED_THE_RUN:
        return (
            "a data-quality check failed, and fails again on the same rows: fix the data, "
            "then run it again"
        )
    if retry_helps(cls_name) is False:
        return f"{cls_name} fails the same way on a retry: fix its cause first"
    return None


def retry_unsafe(error: SerializableErrorInfo) -> str | None:
    """Why retrying a step that failed with `error` cannot succeed, or None when it may: it
    failed on damaged lake data (a retry reads the same bytes), or `futile_retry` says so.
    The one rule behind both `status`'s verdict and the runs the daemon does not retry."""
    damage = damage_of(error)
    if damage is not None:
        return f"a retry reads the same damaged data; repair it first: {damage}"
    return futile_retry(_culprit(error).cls_name)


def failure_cause(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """Why the run failed, on one line: the first failed step, its root cause and, when the
    message has none, the fix; None if nothing failed. A step that failed on damaged lake
    data says that damage (with its repair), not the library error that quoted it."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        data = event.step_failure_data  # type: ignore[union-attr]
        if data is not None and data.error is not None:
            damage = damage_of(data.error)
            if damage is not None:
                return f"{event.step_key}: LakeDamaged: {damage}"  # type: ignore[union-attr]
            inner = _culprit(data.error)
            fix = _FIXES.get(inner.cls_name or "")
            cause = f"{event.step_key}: {inner.cls_name}: {root_cause(inner)}"
            return f"{cause}; fix: {fix}" if fix else cause  # type: ignore[union-attr]
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        return " ".join((record.message or "").split()) or None
    return None
