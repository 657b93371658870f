"""Execute a created run in a process of its own, as Dagster's run launcher would:
`python -m market_spine.runs.run_process RUN_ID` (DAGSTER_HOME names the instance).

Runs under way at the same time need one process each: Dagster reconfigures Python logging as
every run starts (`logging.config.dictConfig`, which closes every handler), and a run starting in
a process where another run is logging deadlocks both."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from market_spine.runs.launch import LaunchedRun, ended, execute


def execute_in_own_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> LaunchedRun:
    """Execute `run` in a child process and report how it ended. A child that dies before the
    run ends leaves it failed with the exit code as its cause, never STARTED."""
    env = {**os.environ, "DAGSTER_HOME": instance.root_directory}
    code = subprocess.run([sys.executable, "-m", __name__, run.run_id], env=env).returncode
    finished = instance.get_run_by_id(run.run_id)
    if finished is not None and not finished.is_finished:
        instance.report_run_failed(
            finished, f"its process exited with code {code} before the run ended"
        )
    return ended(instance, run.run_id)


def main(argv: list[str]) -> int:
    """Execute the run named by argv[0] on the DAGSTER_HOME instance; 0 when it succeeded."""
    if len(argv) != 1:
        print("usage: python -m market_spine.runs.run_process RUN_ID", file=sys.stderr)
        return 2
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(argv[0])
        if run is None:
            print(f"no run {argv[0]} in {instance.root_directory}", file=sys.stderr)
            return 2
        return 0 if execute(instance, run).success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
