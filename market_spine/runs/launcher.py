"""Dagster's default run launcher, plus a health check for runs a CLI process executes, so the
monitoring daemon fails such a run when its process dies (and then frees its pool slots)."""

from __future__ import annotations

from dagster import DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

from market_spine.runs.workers import WORKER, Worker


class SpineRunLauncher(DefaultRunLauncher):
    """Launches like DefaultRunLauncher; reports a CLI-executed run's worker as failed once its
    process is gone. Runs its own gRPC servers launched are reported running: the default
    launcher keeps no handle on their processes."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        worker = Worker.parse(run.tags.get(WORKER, ""))
        if worker is not None and worker.run_id == run.run_id and worker.is_dead():
            return CheckRunHealthResult(
                WorkerStatus.FAILED, f"process {worker.pid} on {worker.host} is gone"
            )
        return CheckRunHealthResult(WorkerStatus.RUNNING)
