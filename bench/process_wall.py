"""`market-spine process --date D --domain all`: wall time on a fresh and on a built home, and
dbt invocations per process, beside the previous warehouse path measured in the same run.

Each measurement is one new process (imports and Dagster start-up included), on a temporary
home with its own Dagster instance, simulated data for CL/ES/NG and SPX/SPXW:
- current: the real CLI, whose warehouse step is `runner.materialize_warehouse` (one run, one
  dbt invocation over the stale models and minute-fact partitions only);
- previous: the same futures and options runs, then the warehouse as it was built before —
  one run with check results and a full build of every unpartitioned model, then one run of the
  minute fact over the processed dates (two dbt invocations, everything rebuilt).
A fresh home is empty; a built home is the same home processed again for the same date.
dbt invocations are counted from the home's dbt log ("Running with dbt=" opens each one).
Measurements alternate between the two paths so that machine load weighs on both alike.

    python bench/process_wall.py [--date 2024-03-05]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import report

GOAL_S = 60.0
DEFAULT_DATE = "2024-03-05"


def dbt_invocations(home: Path) -> int:
    """dbt processes started so far for this home's warehouse."""
    log = home / "warehouse" / "dbt_target" / "dbt.log"
    return log.read_text(errors="replace").count("Running with dbt=") if log.is_file() else 0


def _dbt(context: Any, args: list[str]) -> Iterator[Any]:
    warehouse = context.resources.warehouse
    with warehouse.writing():
        yield from warehouse.invoke(context.resources.dbt, args, context=context).stream()


def previous_warehouse_assets() -> tuple:
    """The warehouse's dbt assets as they were defined before: the minute fact apart, every
    other model in a second @dbt_assets whose every run was a full `dbt build`."""
    import json as json_

    from dagster_dbt import dbt_assets

    from market_spine.warehouse.assets import POOL
    from market_spine.warehouse.project import prepared_manifest, warehouse_project
    from market_spine.warehouse.translator import MINUTE_BARS, SpineDbtTranslator

    shared = {
        "manifest": prepared_manifest(),
        "project": warehouse_project,
        "pool": POOL,
        "required_resource_keys": {"dbt", "warehouse"},
    }

    @dbt_assets(**shared, exclude=MINUTE_BARS, dagster_dbt_translator=SpineDbtTranslator())
    def everything_else(context):  # unannotated: Dagster cannot resolve string annotations
        yield from _dbt(context, ["build"])

    @dbt_assets(
        **shared,
        select=MINUTE_BARS,
        dagster_dbt_translator=SpineDbtTranslator(),
        partitions_def=SpineDbtTranslator().get_partitions_def({"name": MINUTE_BARS}),
    )
    def minute_bars(context):  # unannotated: Dagster cannot resolve string annotations
        keys = context.partition_key_range
        window = json_.dumps({"start_date": keys.start, "end_date": keys.end})
        yield from _dbt(context, ["build", "--vars", window])

    return everything_else, minute_bars


def previous_process(home: Path, day: date) -> bool:
    """The previous `process --domain all`: futures, options, then the two warehouse runs."""
    import dagster as dg

    from market_spine.home import instance
    from market_spine.lake.resource import LakeResource
    from market_spine.runs.launch import materialize_options, materialize_range
    from market_spine.settings import Settings
    from market_spine.warehouse.definitions import warehouse_resources
    from market_spine.warehouse.quality import check_results

    settings = Settings.from_env(dict(os.environ))
    inst = instance(settings)
    runs = materialize_range(settings, settings.symbols, day, day, instance=inst)
    options = materialize_options(settings, day, day, instance=inst)
    ok = all(r.success for r in runs) and (options is None or options.success)
    resources = {
        "lake": LakeResource(root=str(settings.lake_root)),
        **warehouse_resources(settings),
    }
    everything_else, minute_bars = previous_warehouse_assets()
    full = dg.materialize(
        [check_results, everything_else], instance=inst, resources=resources, raise_on_error=False
    )
    minute = dg.materialize(
        [minute_bars],
        partition_key=day.isoformat(),
        instance=inst,
        resources=resources,
        raise_on_error=False,
    )
    return ok and full.success and minute.success


def measure(path: str, home: Path, day: str) -> dict[str, float | bool]:
    """One `process` in a new process: wall seconds, dbt invocations, success."""
    env = {**os.environ, "MARKET_SPINE_HOME": str(home)}
    if path == "current":
        command = [str(Path(sys.executable).parent / "market-spine"), "process", "--date", day]
        command += ["--domain", "all"]
    else:
        command = [sys.executable, __file__, "--previous", str(home), "--date", day]
    before = dbt_invocations(home)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
    return {
        "wall_s": round(wall, 1),
        "dbt_invocations": dbt_invocations(home) - before,
        "success": done.returncode == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default=DEFAULT_DATE)
    parser.add_argument("--previous", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.previous is not None:  # a child: one run of the previous path
        raise SystemExit(0 if previous_process(args.previous, date.fromisoformat(args.date)) else 1)

    figures: dict[str, dict[str, dict[str, float | bool]]] = {"current": {}, "previous": {}}
    with tempfile.TemporaryDirectory(prefix="process_wall_") as tmp:
        homes = {path: Path(tmp) / path / "home" for path in figures}
        for state in ("fresh", "built"):
            for path, home in homes.items():
                report.log(f"{path} path, {state} home: process --date {args.date} --domain all")
                figures[path][state] = measure(path, home, args.date)
                report.log(f"  {figures[path][state]}")
    rows = [
        [
            f"{state} home",
            figures["previous"][state]["wall_s"],
            figures["current"][state]["wall_s"],
            figures["previous"][state]["dbt_invocations"],
            figures["current"][state]["dbt_invocations"],
            "PASS" if figures["current"][state]["wall_s"] <= GOAL_S else "MISS",
        ]
        for state in ("fresh", "built")
    ]
    header = ["process --domain all", "previous s", "current s", "previous dbt", "current dbt"]
    report.table(
        f"process --date {args.date} (goal ≤ {GOAL_S:.0f} s, 1 dbt invocation)",
        [*header, "goal"],
        rows,
    )
    report.save("process_wall", {"date": args.date, "goal_s": GOAL_S, **figures})
    if not all(f["success"] for p in figures.values() for f in p.values()):
        print(json.dumps(figures, indent=2), file=sys.stderr)
        raise SystemExit("a process run failed: see the output above")


if __name__ == "__main__":
    main()
