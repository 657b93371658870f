"""What a finished run left in the instance: its failed checks and the one-line cause of failure
(the full trace stays in the run's logs, in the UI)."""

from __future__ import annotations

import dagster as dg
from dagster._utils.error import SerializableErrorInfo

from market_spine.check_kit import summarize_failures


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> tuple[str, ...]:
    """`asset:check [partitions]` of every check the run evaluated as failed."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return summarize_failures(r.dagster_event.event_specific_data for r in records)  # type: ignore[union-attr]


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


def failure_cause(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """Why the run failed, on one line: the first failed step, its root cause and, when the
    message has none, the fix; None if nothing failed."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        data = event.step_failure_data  # type: ignore[union-attr]
        if data is not None and data.error is not None:
            inner = _culprit(data.error)
            fix = _FIXES.get(inner.cls_name or "")
            cause = f"{event.step_key}: {inner.cls_name}: {root_cause(inner)}"
            return f"{cause}; fix: {fix}" if fix else cause  # type: ignore[union-attr]
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        return " ".join((record.message or "").split()) or None
    return None
