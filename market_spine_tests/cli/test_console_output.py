"""The console of a failing command: a few lines, the last naming the cause and the fix; the
full trace stays in the run's logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg


def test_a_broken_lake_ends_with_one_line_naming_cause_and_fix(home: Path) -> None:
    (home / "lake").mkdir(parents=True)
    (home / "lake" / "raw").write_text("a file where the raw layer's folder belongs")
    env = {**os.environ, "MARKET_SPINE_HOME": str(home)}
    cmd = [sys.executable, "-m", "market_spine.cli", "process", "--date", "2024-03-05"]
    result = subprocess.run(
        [*cmd, "--domain", "futures", "--symbols", "CL"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) <= 4, result.stderr
    assert "Traceback" not in result.stderr
    last = lines[-1]
    assert last.startswith("error:")
    assert "NotADirectoryError" in last and str(home / "lake" / "raw") in last
    assert "fix:" in last
    # The trace is kept in the run's logs.
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    [run] = instance.get_runs()
    failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    assert failures and failures[0].dagster_event.step_failure_data.error.stack
