"""The futures backfill through Dagster on each instance backend: the test profile's PostgreSQL
instance (a throwaway cluster started here) and the dev profile's SQLite instance, against the
same asset functions and checks called without Dagster, all in this run.

Each backend runs `materialize_range` over the span × CL/ES/NG (range runs of at most
`--days-per-run` trade dates of one symbol, raw → normalized → daily and every check) on a fresh
home opened as `market-spine` opens it (`home.instance`, the profile's dagster.yaml). Figures:
wall seconds, the ratio to the no-Dagster baseline (goal: PostgreSQL ≤ 2×), the time spent
creating runs (outside the runs' start/end), the runs' and steps' seconds from the instance's
own stats, and the instance's SQL statements and new database connections per partition (what
the load of a shared machine does not change). The normalized row counts must agree across all
three.

The span defaults to the first quarter of 2023: the whole year through two Dagster backends and
the baseline takes over 40 minutes on 2 shared cores. `--start 2023-01-01 --end 2023-12-31` runs
the year.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import dataset
import report
from backfill import direct, normalized_rows, through_dagster
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from market_spine.catalog.dagster_metadata import SESSIONS_PER_RUN
from market_spine.definitions import silence_dagster_previews
from market_spine.futures import keys
from market_spine.home import instance as home_instance
from market_spine.settings import Settings
from market_spine_tests.kit.postgres import postgres_server

#: The default span: the first quarter of 2023.
START, END = date(2023, 1, 1), date(2023, 3, 31)
#: Dagster on PostgreSQL may cost at most this many times the work without Dagster.
TARGET_RATIO = 2.0
#: The assets the baseline does the work of (with their checks): raw, normalized and daily
#: bars. The continuous series and rolls downstream have no baseline, so they are left out.
SELECTION = [keys.RAW_BARS, keys.NORMALIZED_BARS, keys.DAILY_BARS]


class SqlCounter:
    """SQL statements and new database connections of every SQLAlchemy engine in this process
    (the instance's storages) while counting."""

    def __init__(self) -> None:
        self.statements = self.connections = 0
        self.counting = False
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Pool, "connect", self._connection)

    def _statement(self, *_: Any) -> None:
        self.statements += self.counting

    def _connection(self, *_: Any) -> None:
        self.connections += self.counting


COUNTER = SqlCounter()


def on_profile(
    home: Path, profile: str, extra: dict[str, str], start: date, end: date, days_per_run: int
) -> dict:
    """The backfill through Dagster on a fresh home under `profile` (its dagster.yaml)."""
    # The code location and each run rebuild their settings from the environment, as the CLI's do.
    os.environ.update({"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": profile, **extra})
    settings = Settings.from_env()
    with home_instance(settings) as instance:
        storage = type(instance.run_storage).__name__
        COUNTER.statements = COUNTER.connections = 0
        COUNTER.counting = True
        try:
            out = through_dagster(settings, instance, start, end, SELECTION, days_per_run)
        finally:
            COUNTER.counting = False
    partitions = sum(r["days"] for r in out["runs"])
    out["sql_per_partition"] = round(COUNTER.statements / partitions, 1)
    out["connections_per_partition"] = round(COUNTER.connections / partitions, 2)
    out["storage"] = storage
    out["normalized_rows"] = normalized_rows(settings)
    out["outside_runs_s"] = round(out["wall_s"] - sum(r["run_s"] for r in out["runs"]), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=date.fromisoformat, default=START)
    parser.add_argument("--end", type=date.fromisoformat, default=END)
    parser.add_argument(
        "--days-per-run",
        type=int,
        default=SESSIONS_PER_RUN,
        help=f"trade dates per run, one symbol each (default {SESSIONS_PER_RUN})",
    )
    args = parser.parse_args()
    # A stopped benchmark still stops its PostgreSQL cluster and removes its homes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    silence_dagster_previews()
    dataset.DATA.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_backends_", dir=dataset.DATA))
    saved = dict(os.environ)
    results: dict[str, Any] = {}
    try:
        report.log("baseline: the asset functions and checks without Dagster")
        plain = dataset.settings_for(work / "direct_home")
        t0 = report.now_ms()
        stages = direct(plain, args.start, args.end)
        results["direct"] = {
            "wall_s": round((report.now_ms() - t0) / 1000, 2),
            "normalized_rows": normalized_rows(plain),
            "stages_s": {k: round(v, 2) for k, v in stages.items()},
        }
        report.collect()

        report.log("Dagster on SQLite (dev profile)")
        results["sqlite"] = on_profile(
            work / "sqlite_home", "dev", {}, args.start, args.end, args.days_per_run
        )
        report.collect()

        report.log("Dagster on PostgreSQL (test profile, a throwaway cluster)")
        with postgres_server() as server:
            database = server.create_database(f"bench_{uuid.uuid4().hex[:8]}")
            results["postgres"] = on_profile(
                work / "pg_home",
                "test",
                server.env(database),
                args.start,
                args.end,
                args.days_per_run,
            )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)

    rows = {name: r["normalized_rows"] for name, r in results.items()}
    assert len(set(rows.values())) == 1, f"the backends disagree on the rows: {rows}"
    base = results["direct"]["wall_s"]
    figures = {
        "range": [args.start, args.end],
        "days_per_run": args.days_per_run,
        "symbols": list(dataset.SYMBOLS),
        "normalized_rows": rows["direct"],
        "direct_s": base,
        "direct_stages_s": results["direct"]["stages_s"],
        "target_ratio": TARGET_RATIO,
    }
    for name in ("sqlite", "postgres"):
        r = results[name]
        figures[name] = {
            "storage": r["storage"],
            "wall_s": r["wall_s"],
            "ratio": round(r["wall_s"] / base, 2),
            "outside_runs_s": r["outside_runs_s"],
            "sql_per_partition": r["sql_per_partition"],
            "connections_per_partition": r["connections_per_partition"],
            "runs": r["runs"],
            "steps_s": {k: round(v, 2) for k, v in r["steps_s"].items()},
        }
    print_results(figures)
    report.save("instance_backends", figures)


def print_results(f: dict[str, Any]) -> None:
    """Each backend beside the baseline, then where each backend's time goes."""
    base = f["direct_s"]
    report.table(
        f"Backfill {f['range'][0]}..{f['range'][1]} × {'/'.join(f['symbols'])}, "
        f"{f['normalized_rows']:,} normalized rows, runs of ≤ {f['days_per_run']} trade dates",
        [
            "measurement",
            "seconds",
            "× no Dagster",
            "creating runs s",
            "SQL/partition",
            "connects/partition",
            "target",
        ],
        [
            ["baseline: same functions, no Dagster", base, 1.0, None, None, None, ""],
            *(
                [
                    label,
                    f[name]["wall_s"],
                    f[name]["ratio"],
                    f[name]["outside_runs_s"],
                    f[name]["sql_per_partition"],
                    f[name]["connections_per_partition"],
                    target,
                ]
                for name, label, target in (
                    ("sqlite", "Dagster on SQLite (dev)", ""),
                    (
                        "postgres",
                        "Dagster on PostgreSQL (test/prod)",
                        f"≤ {f['target_ratio']:.0f}×",
                    ),
                )
            ),
        ],
    )
    report.table(
        "Where the time goes: steps (sum over runs) per backend | direct stages",
        ["step / stage", "sqlite s", "postgres s"],
        [
            [f"step {k}", v, f["postgres"]["steps_s"].get(k)]
            for k, v in f["sqlite"]["steps_s"].items()
        ]
        + [[f"direct: {k}", v, None] for k, v in f["direct_stages_s"].items()],
    )


if __name__ == "__main__":
    main()
