"""Runs executed by a CLI process, and the sweep that fails those whose process died.

A run the CLI executes is tagged with the process running it (host, pid and the pid's start
time, so a reused pid is not mistaken for it). Dagster's default run launcher cannot tell whether
such a run is alive, so a `kill -9` leaves it STARTED and holding its concurrency-pool slots, and
every later run that needs the pool waits forever. `sweep_dead_runs` fails those runs and frees
their slots; the CLI calls it before it launches anything, so it works without a daemon.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import dagster as dg
import psutil
from dagster._core.storage.dagster_run import FINISHED_STATUSES
from dagster._core.storage.tags import MAX_RETRIES_TAG

from market_spine.runs.provenance import PREFIX

WORKER = PREFIX + "worker"
#: Tags of a run the deployment stopped: why, and no automatic retry. Dagster decides whether to
#: retry a run when it fails, from its tags; a stopped run whose worker dies before it reports
#: CANCELED (killed with its service, or failed by the run monitor at the next start) would
#: otherwise be retried by a daemon whose code server is going away, which fails loudly
#: (`Failed to retry run ...`). A re-execution, from the UI or `market-spine retry`, resumes it.
STOPPED_BY = PREFIX + "stopped_by"
STOPPED_TAGS = {STOPPED_BY: "shutdown", MAX_RETRIES_TAG: "0"}
_UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass(frozen=True)
class Worker:
    """The process executing one run: `run_id@host:pid:started` in the run's tags."""

    run_id: str
    host: str
    pid: int
    started: float

    @classmethod
    def this_process(cls, run_id: str) -> Worker:
        """The current process as the worker of `run_id`."""
        return cls(run_id, socket.gethostname(), psutil.Process().pid, _started(psutil.Process()))

    @classmethod
    def parse(cls, value: str) -> Worker | None:
        """The tag's worker, or None when it is malformed."""
        try:
            run_id, rest = value.split("@", 1)
            host, pid, started = rest.rsplit(":", 2)
            return cls(run_id, host, int(pid), float(started))
        except ValueError:
            return None

    def tag(self) -> dict[str, str]:
        """The tag naming this worker."""
        return {WORKER: f"{self.run_id}@{self.host}:{self.pid}:{self.started:.2f}"}

    def is_dead(self) -> bool:
        """True only when this host can tell: the pid is gone or now another process."""
        if self.host != socket.gethostname():
            return False
        try:
            return abs(_started(psutil.Process(self.pid)) - self.started) > 0.01
        except psutil.NoSuchProcess:
            return True


def _started(process: psutil.Process) -> float:
    return round(process.create_time(), 2)


def sweep_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail every unfinished run whose CLI process died and free its pool slots; the run ids.

    Only a run's own worker tag counts: a retry inherits its parent's tags, but it runs in a
    process the launcher started, which this sweep cannot see and so leaves alone."""
    swept = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED)):
        run = record.dagster_run
        worker = Worker.parse(run.tags.get(WORKER, ""))
        if worker is None or worker.run_id != run.run_id or not worker.is_dead():
            continue
        instance.report_run_failed(
            run,
            f"the process executing this run (pid {worker.pid} on {worker.host}) died; "
            "marked failed so its concurrency-pool slots are freed; re-execute it from failure",
        )
        swept.append(run.run_id)
    # Also runs failed earlier (by this sweep or the monitoring daemon) whose slots are held.
    holding = instance.event_log_storage.get_concurrency_run_ids()
    if holding:
        finished = instance.get_run_records(
            dg.RunsFilter(run_ids=list(holding), statuses=list(FINISHED_STATUSES))
        )
        for record in finished:
            instance.event_log_storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
    return swept


#: Runs a deployment still owes work on when it is stopped.
ACTIVE = [dg.DagsterRunStatus.QUEUED, *_UNFINISHED]


def cancel_active_runs(instance: dg.DagsterInstance, wait_s: float = 20.0) -> list[str]:
    """Cancel every queued or running run of a deployment that is being stopped, and wait up to
    `wait_s` seconds for the running ones to end; the run ids.

    Without this, stopping the services kills a run's worker mid-step: the run is marked
    FAILURE (which the retry policy then re-queues) and queued runs stay QUEUED for the next
    start. Cancelled, each ends CANCELED and says so, and a re-execution resumes it; tagged
    with STOPPED_TAGS first, none is retried automatically however it ends. Running
    runs are terminated through the run launcher, so this must run while the code server is up.
    A run a live CLI process is executing (`market-spine process` in another terminal) is not
    the deployment's to stop and is left alone.
    """
    records = instance.get_run_records(dg.RunsFilter(statuses=ACTIVE))
    ids = [r.dagster_run.run_id for r in records if not _owned_by_live_cli(r.dagster_run)]
    if not ids:
        return []
    for run_id in ids:
        instance.add_run_tags(run_id, STOPPED_TAGS)
        instance.run_coordinator.cancel_run(run_id)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not instance.get_run_records(dg.RunsFilter(run_ids=ids, statuses=_UNFINISHED)):
            break
        time.sleep(0.5)
    for record in instance.get_run_records(dg.RunsFilter(run_ids=ids, statuses=_UNFINISHED)):
        # The worker did not stop in time: it is about to be killed with its service.
        instance.report_run_canceled(record.dagster_run, "the deployment stopped")
    return ids


def _owned_by_live_cli(run: dg.DagsterRun) -> bool:
    if run.status == dg.DagsterRunStatus.QUEUED:  # the CLI executes its runs without queueing
        return False
    worker = Worker.parse(run.tags.get(WORKER, ""))
    return worker is not None and worker.run_id == run.run_id and not worker.is_dead()
