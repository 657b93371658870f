"""Retrying failed runs safely: a failed run is re-executed from its failure as a Dagster run of
the deployed code location (the UI shows it under its parent, with Dagster's parent and root run
ids), never while another run covers the same partitions of the same datasets, and at most the
configured number of times (dagster.yaml `run_retries.max_retries`) unless forced.

Attempts count every re-execution of the first run, whoever made it (this console, the UI, the
retry daemon), so the console and the daemon share one budget.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.errors import DagsterInvalidSubsetError
from dagster._core.execution.plan.resume_retry import ReexecutionStrategy
from dagster._core.storage.tags import (
    AUTO_RETRY_RUN_ID_TAG,
    RETRY_NUMBER_TAG,
    TAGS_TO_MAYBE_OMIT_ON_RETRY,
    WILL_RETRY_TAG,
)

from market_spine.audit import changes as audit_changes
from market_spine.errors import SpineError
from market_spine.operations.run_history import (
    ACTIVE,
    FAILED,
    PartitionSpan,
    run_datasets,
    run_span,
)
from market_spine.runs import meter, provenance
from market_spine.runs.deployment import stopped_at
from market_spine.runs.workers import STOPPED_BY, WORKER
from market_spine.settings import Settings

#: Attempts allowed when dagster.yaml sets no `run_retries.max_retries`.
DEFAULT_MAX_ATTEMPTS = 2
#: Where a retry records the run it re-executes, beside Dagster's parent and root run ids.
RETRY_OF = provenance.PREFIX + "retry_of"
#: Tags of the parent a retry does not inherit: what Dagster drops on a retry, and what was
#: true only of the parent (its process, its measurements, who launched it).
_NOT_INHERITED = {
    *TAGS_TO_MAYBE_OMIT_ON_RETRY,
    WORKER,
    *meter.MEASUREMENTS,
    provenance.LAUNCHED_BY,
    provenance.LAUNCHED_FROM,
}


def max_attempts(instance: dg.DagsterInstance) -> int:
    """How many re-executions of a run are allowed: dagster.yaml's `run_retries.max_retries`
    when set, else DEFAULT_MAX_ATTEMPTS."""
    return instance.run_retries_max_retries or DEFAULT_MAX_ATTEMPTS


def conflicts(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[dg.DagsterRun]:
    """Queued or running runs (other than `run`) that would write what `run` writes: a dataset
    in common and a partition in common (a run over no partition covers them all). A run that
    selects no asset (a check job, an op job) conflicts with runs of the same job."""
    mine, span = set(run_datasets(run, instance)), run_span(run.tags)
    found = []
    for other in instance.get_runs(dg.RunsFilter(statuses=list(ACTIVE))):
        if other.run_id == run.run_id:
            continue
        theirs = set(run_datasets(other, instance))
        shared = mine & theirs if mine and theirs else other.job_name == run.job_name
        other_span = run_span(other.tags)
        if shared and (span is None or other_span is None or span.overlaps(other_span)):
            found.append(other)
    return found


@dataclass(frozen=True)
class RetryPlan:
    """What retrying one failed run would do. `run` is the attempt to re-execute (the newest of
    its group); `verdict` is `retry`, or why not: `running` (a run covers its partitions),
    `exhausted` (no attempts left), `repaired` (a later attempt succeeded), `in progress` (a
    later attempt is queued or running), `daemon retry` (the daemon is about to launch one),
    `not failed`."""

    run: dg.DagsterRun
    verdict: str
    reason: str
    attempts: int
    allowed: int
    blocked_by: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the run may be retried now."""
        return self.verdict == "retry"

    def as_json(self) -> dict[str, Any]:
        """Plain data for `retry --json` and status."""
        span = run_span(self.run.tags)
        return {
            "run_id": self.run.run_id,
            "partitions": None if span is None else span.label,
            "verdict": self.verdict,
            "reason": self.reason,
            "attempts": self.attempts,
            "allowed": self.allowed,
            "blocked_by": list(self.blocked_by),
        }


def plan_retry(instance: dg.DagsterInstance, run_id: str, *, force: bool = False) -> RetryPlan:
    """Whether the failed run `run_id` (or the newest attempt of its group) can be retried
    now; `force` lifts the attempt limit, never the running-partition rule."""
    group = instance.get_run_group(run_id)
    if group is None:
        raise SpineError(f"no run has the id {run_id!r}: see `market-spine runs`")
    _, runs = group
    newest = max(runs, key=lambda r: _created(instance, r))
    attempts, allowed = len(runs) - 1, max_attempts(instance)

    def plan(verdict: str, reason: str, blocked: Iterable[str] = ()) -> RetryPlan:
        return RetryPlan(newest, verdict, reason, attempts, allowed, tuple(blocked))

    if newest.status == dg.DagsterRunStatus.SUCCESS:
        return plan("repaired", f"attempt {newest.run_id[:8]} succeeded: nothing to retry")
    if newest.status in ACTIVE:
        return plan("in progress", f"attempt {newest.run_id[:8]} is {newest.status.value.lower()}")
    if newest.status not in FAILED:
        return plan("not failed", f"run {newest.run_id[:8]} is {newest.status.value.lower()}")
    if _daemon_about_to_retry(instance, newest):
        # The daemon has decided to retry it and will launch the attempt within seconds:
        # another attempt now would run the same partitions twice.
        return plan(
            "daemon retry",
            f"the daemon is retrying run {newest.run_id[:8]} (dagster/will_retry): wait for "
            "its attempt",
        )
    running = conflicts(instance, newest)
    if running:
        ids = [r.run_id for r in running]
        return plan(
            "running",
            f"run(s) {', '.join(i[:8] for i in ids)} cover the same partitions now: retry once "
            "they end",
            ids,
        )
    if attempts >= allowed and not force:
        return plan(
            "exhausted",
            f"{attempts} of {allowed} attempts made (dagster.yaml run_retries.max_retries): fix "
            "the cause, then retry with --force; a retry runs with the run's own settings, so "
            "after a settings change load the partitions again with `market-spine process` or "
            "`market-spine gaps --fill`",
        )
    return plan("retry", f"attempt {attempts + 1} of {allowed}" + (" (forced)" if force else ""))


#: The daemon launches its retry seconds after a failure; past this it is not coming.
DAEMON_RETRY_WINDOW_S = 120.0


def _daemon_about_to_retry(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """True while a running daemon owes the run the retry it decided on (`dagster/will_retry`,
    no attempt linked yet, the failure recent). Without a live daemon nobody retries it."""
    if run.tags.get(WILL_RETRY_TAG) != "true" or AUTO_RETRY_RUN_ID_TAG in run.tags:
        return False
    record = instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record is not None else None
    now = time.time()
    if ended is None or now - ended > DAEMON_RETRY_WINDOW_S:
        return False
    beats = instance.get_daemon_heartbeats().values()
    # Beats before a clean stop of the services are a stopped daemon's.
    stop = stopped_at(Path(instance.root_directory))
    after = 0.0 if stop is None else stop.timestamp()
    return any(
        now - beat.timestamp < DAEMON_RETRY_WINDOW_S and beat.timestamp > after for beat in beats
    )


def _created(instance: dg.DagsterInstance, run: dg.DagsterRun) -> datetime:
    record = instance.get_run_record_by_id(run.run_id)
    return record.create_timestamp if record is not None else datetime.min


def failed_since(instance: dg.DagsterInstance, since: datetime) -> list[str]:
    """The failed or canceled runs created since `since` that are still unrepaired (`settled`
    says which are not), one per group (the first run and its re-executions), oldest first:
    the run ids `retry --failed` plans, the failures `status` lists."""
    records = instance.get_run_records(
        dg.RunsFilter(statuses=list(FAILED), created_after=since), ascending=True
    )
    if not records:
        return []
    later_ok = successes_since(instance, records[0].create_timestamp)
    newest: dict[str, dg.RunRecord] = {}
    first: dict[str, str] = {}
    for record in records:
        run = record.dagster_run
        root = run.root_run_id or run.run_id
        first.setdefault(root, run.run_id)
        newest[root] = record
    return [
        first[root] for root, record in newest.items() if not settled(instance, record, later_ok)
    ]


def successes_since(instance: dg.DagsterInstance, since: datetime) -> list[dg.RunRecord]:
    """The successful runs created since `since` (what may have repaired a failure)."""
    return list(
        instance.get_run_records(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS], created_after=since)
        )
    )


def settled(
    instance: dg.DagsterInstance, record: dg.RunRecord, later_ok: Iterable[dg.RunRecord]
) -> bool:
    """Whether the failed run of `record` needs no retry: a later successful run redid all it
    had to do, or a clean stop of the services canceled it over no partition (a freshness or
    check sweep, which its schedule runs again: nothing is missing meanwhile)."""
    run = record.dagster_run
    if run.tags.get(STOPPED_BY) == "shutdown" and run_span(run.tags) is None:
        return True
    return any(
        ok.create_timestamp > record.create_timestamp and _covers(instance, ok.dagster_run, run)
        for ok in later_ok
    )


def _covers(instance: dg.DagsterInstance, done: dg.DagsterRun, failed: dg.DagsterRun) -> bool:
    """Whether a successful run redid all a failed run had to do: its datasets and partitions."""
    redone, needed = set(run_datasets(done, instance)), set(run_datasets(failed, instance))
    if not needed:
        # A run over no dataset (a sweep) is redone only by the same job over the same span.
        return done.job_name == failed.job_name and run_span(done.tags) == run_span(failed.tags)
    if not needed <= redone:
        # Runs of one job over no span (one dataset each) differ only by what they materialize:
        # a later run of another dataset repairs nothing.
        return False
    mine, theirs = run_span(failed.tags), run_span(done.tags)
    if theirs is None:
        return True
    return mine is not None and _within(mine, theirs)


def _within(inner: PartitionSpan, outer: PartitionSpan) -> bool:
    same = outer.symbol is None or outer.symbol == inner.symbol
    return same and outer.first <= inner.first and inner.last <= outer.last


def reexecute(instance: dg.DagsterInstance, parent: dg.DagsterRun) -> dg.DagsterRun:
    """Create the re-execution of `parent` from its failure (every step when none failed, e.g.
    a run canceled before it started), as the UI or the retry daemon would: through the code
    location, with the parent's config and tags, Dagster's parent/root run ids and retry number,
    and this console as its origin. The parent names it as its retry, so the daemon does not
    retry the parent a second time. Returns the run, NOT_STARTED."""
    from market_spine.runs.location import code_location

    origin = parent.remote_job_origin
    if origin is None:
        raise SpineError(
            f"run {parent.run_id[:8]} was not launched from the deployment's code location, so "
            "it cannot be re-executed: run `market-spine process` over its dates instead"
        )
    location = code_location(instance)
    repo = location.get_repository(origin.repository_origin.repository_name)
    assets, checks = parent.asset_selection, parent.asset_check_selection
    remote_job = location.get_job(
        JobSubsetSelector(
            location_name=location.name,
            repository_name=repo.name,
            job_name=parent.job_name,
            op_selection=parent.op_selection,
            asset_selection=None if assets is None else list(assets),
            asset_check_selection=None if checks is None else list(checks),
        )
    )
    group = instance.get_run_group(parent.run_id)
    tags = {
        **{k: v for k, v in parent.tags.items() if k not in _NOT_INHERITED},
        **provenance.origin_tags("retry"),
        RETRY_OF: parent.run_id,
        RETRY_NUMBER_TAG: str(len(group[1]) if group else 1),
    }
    # The re-execution reads only the asset graph from a workspace request; the loaded code
    # location's repository has it, so no second workspace is loaded.
    request = SimpleNamespace(asset_graph=repo.asset_graph)
    options: dict[str, Any] = {
        "request_context": request,
        "parent_run": parent,
        "code_location": location,
        "remote_job": remote_job,
        "extra_tags": tags,
    }
    try:
        run = instance.create_reexecuted_run(strategy=ReexecutionStrategy.FROM_FAILURE, **options)
    except DagsterInvalidSubsetError:
        run = instance.create_reexecuted_run(strategy=ReexecutionStrategy.ALL_STEPS, **options)
    instance.add_run_tags(parent.run_id, {AUTO_RETRY_RUN_ID_TAG: run.run_id})
    home = Settings.home_from_env()
    audit_changes.run_launched(home, run.run_id, run.tags, assets or (), action="run.retry")
    return run
