"""Fail unless every Dagster run of a home succeeded and every asset check it evaluated passed.

Usage: python .ci/verify_home.py HOME  (HOME is the MARKET_SPINE_HOME the runs used)
"""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg


def problems(home: Path) -> list[str]:
    """One line per failed run or failed check; an empty list when the home is green."""
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    runs = instance.get_runs()
    if not runs:
        return [f"no runs in {home}: the load did not launch anything"]
    out = []
    for run in runs:
        if run.status != dg.DagsterRunStatus.SUCCESS:
            out.append(f"run {run.run_id[:8]} ({run.job_name}) is {run.status.value}")
        for record in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ):
            ev = record.dagster_event.event_specific_data  # type: ignore[union-attr]
            if not ev.passed:
                out.append(
                    f"run {run.run_id[:8]}: check {ev.asset_key.to_user_string()}:"
                    f"{ev.check_name} failed ({record.dagster_event.partition or 'no partition'})"  # type: ignore[union-attr]
                )
    return out


if __name__ == "__main__":
    found = problems(Path(sys.argv[1]))
    for line in found:
        print(line, file=sys.stderr)
    runs = "every run succeeded and every check passed" if not found else f"{len(found)} problems"
    print(f"{sys.argv[1]}: {runs}", file=sys.stderr)
    sys.exit(1 if found else 0)
