"""The futures backfill through Dagster on each instance backend: the test profile's PostgreSQL
instance (a throwaway cluster started here) and the dev profile's SQLite instance, against the
same asset functions and checks called without Dagster, all in this run.

Each backend runs `materialize_range` over the span × CL/ES/NG (range runs of at most
`--days-per-run` trade dates of one symbol, raw → normalized → daily and every check) on a fresh
home opened as `market-spine` opens it (`home.instance`, the profile's dagster.yaml). Figures:
wall seconds and this process's CPU seconds (what the load of a shared machine moves least), each
beside the no-Dagster baseline (goal: PostgreSQL ≤ 2×), the time spent
creating runs (outside the runs' start/end), the runs' and steps' seconds from the instance's
own stats, and the instance's SQL statements and new database connections per partition (what
the load of a shared machine does not change), PostgreSQL's by kind. PostgreSQL runs twice: with
the event log's batched writes (`runs.pg_event_log`, what runs use) and with dagster-postgres's
own one-by-one writes (connections held in both), so the two stand side by side, and a third
time with the batched writes but the definitions built at every load and an execution plan made
per run, as Dagster does unless the process shares them (`definitions.defs`,
`runs.location.execution_plan`). The normalized row counts must agree across all passes.
`--passes` runs some of them only, the PostgreSQL ones in its order (the baseline runs first,
SQLite next; the first Dagster pass also pays the process's one-time costs: imports, calendars).

The span defaults to the first quarter of 2023: the whole year through two Dagster backends and
the baseline takes over 40 minutes on 2 shared cores. `--start 2023-01-01 --end 2023-12-31` runs
the year.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
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
from market_spine.runs.pg_event_log import EventLogWrites
from market_spine.settings import Settings
from market_spine_tests.kit.postgres import postgres_server

#: The default span: the first quarter of 2023.
START, END = date(2023, 1, 1), date(2023, 3, 31)
#: Dagster on PostgreSQL may cost at most this many times the work without Dagster.
TARGET_RATIO = 2.0
#: The assets the baseline does the work of (with their checks): raw, normalized and daily
#: bars. The continuous series and rolls downstream have no baseline, so they are left out.
SELECTION = [keys.RAW_BARS, keys.NORMALIZED_BARS, keys.DAILY_BARS]
#: The Dagster passes, in the order they run, with their labels.
BACKENDS = {
    "sqlite": "Dagster on SQLite (dev)",
    "postgres_one_by_one": "Dagster on PostgreSQL, dagster-postgres's one-by-one writes",
    "postgres_loaded_per_use": "Dagster on PostgreSQL, batched, definitions built per load",
    "postgres": "Dagster on PostgreSQL (test/prod), batched writes",
}


#: The table a statement reads first, after its verb: SELECT ... FROM t.
_FROM = re.compile(r"\bFROM\s+([\w.]+)", re.IGNORECASE)
#: Where a write's table is among its words: INSERT INTO t, UPDATE t, DELETE FROM t.
_TABLE_WORD = {"INSERT": 2, "UPDATE": 1, "DELETE": 2}


def statement_kind(statement: str) -> str:
    """A statement's verb and the table it writes or reads first: `UPDATE asset_keys`."""
    words = statement.split()
    if not words:
        return "?"
    verb = words[0].upper()
    at = _TABLE_WORD.get(verb)
    if at is not None and len(words) > at:
        return f"{verb} {words[at]}"
    found = _FROM.search(statement) if verb == "SELECT" else None
    return f"{verb} {found.group(1)}" if found else verb


class SqlCounter:
    """SQL statements (also by kind) and new database connections of every SQLAlchemy engine in
    this process (the instance's storages) while counting."""

    def __init__(self) -> None:
        self.statements = self.connections = 0
        self.kinds: Counter[str] = Counter()
        self.counting = False
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Pool, "connect", self._connection)

    def reset(self) -> None:
        self.statements = self.connections = 0
        self.kinds.clear()

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not self.counting:
            return
        self.statements += 1
        self.kinds[statement_kind(statement)] += 1

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
    with home_instance(settings) as instance, counting_loads() as loads:
        storage = type(instance.run_storage).__name__
        COUNTER.reset()
        COUNTER.counting = True
        cpu = time.process_time()
        try:
            out = through_dagster(settings, instance, start, end, SELECTION, days_per_run)
        finally:
            COUNTER.counting = False
        out["cpu_s"] = round(time.process_time() - cpu, 2)
    out.update(loads)
    partitions = sum(r["days"] for r in out["runs"])
    out["sql_per_partition"] = round(COUNTER.statements / partitions, 1)
    out["connections_per_partition"] = round(COUNTER.connections / partitions, 2)
    out["sql_by_kind_per_partition"] = {
        kind: round(n / partitions, 2) for kind, n in COUNTER.kinds.most_common(12)
    }
    out["storage"] = storage
    out["normalized_rows"] = normalized_rows(settings)
    out["outside_runs_s"] = round(out["wall_s"] - sum(r["run_s"] for r in out["runs"]), 2)
    return out


@contextmanager
def counting_loads() -> Iterator[dict[str, int]]:
    """How many times the code location's definitions are built and an execution plan is made
    while creating runs, counted into the yielded dict."""
    from dagster._core.remote_representation.code_location import InProcessCodeLocation

    import market_spine.definitions as definitions

    counts = {"definitions_built": 0, "plans_made": 0}
    build, plan = definitions.build_definitions, InProcessCodeLocation.get_execution_plan

    def counted_build(settings: Settings) -> Any:
        counts["definitions_built"] += 1
        return build(settings)

    def counted_plan(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["plans_made"] += 1
        return plan(self, *args, **kwargs)

    definitions.build_definitions = counted_build  # type: ignore[assignment]
    InProcessCodeLocation.get_execution_plan = counted_plan  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        definitions.build_definitions = build  # type: ignore[assignment]
        InProcessCodeLocation.get_execution_plan = plan  # type: ignore[method-assign]


@contextmanager
def dagster_postgres_writes() -> Iterator[None]:
    """Runs write events as dagster-postgres does (one by one, a NOTIFY each), over held
    connections still: the batched writes' baseline."""
    install = EventLogWrites.install
    EventLogWrites.install = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        EventLogWrites.install = install  # type: ignore[method-assign]


@contextmanager
def definitions_built_per_load() -> Iterator[None]:
    """Every load of the code location's definitions builds them again (the code location
    twice, the first execution plan, the first run's job), and every run gets an execution plan
    of its own: Dagster's behaviour when nothing is shared, the sharing's baseline. The code
    location is still kept per instance and home, as before the sharing."""
    import market_spine.definitions as definitions
    from market_spine.runs import launch, location

    fingerprint, keyed, plan = (
        definitions.definitions_fingerprint,
        location._fingerprint,
        launch.execution_plan,
    )
    location._fingerprint = lambda: fingerprint(Settings.from_env())  # type: ignore[assignment]
    definitions.definitions_fingerprint = lambda settings: (object(),)  # type: ignore[assignment]
    launch.execution_plan = lambda loc, job, run_config, instance: (
        loc.get_execution_plan(  # type: ignore[assignment]
            job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
        ).execution_plan_snapshot
    )
    try:
        yield
    finally:
        definitions.definitions_fingerprint = fingerprint  # type: ignore[assignment]
        location._fingerprint = keyed  # type: ignore[assignment]
        launch.execution_plan = plan  # type: ignore[assignment]


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
    parser.add_argument(
        "--passes",
        default=",".join(BACKENDS),
        help=f"the Dagster passes to run, comma-separated (default all: {','.join(BACKENDS)})",
    )
    args = parser.parse_args()
    passes = list(dict.fromkeys(args.passes.split(",")))
    if not passes or not set(passes) <= set(BACKENDS):
        parser.error(f"--passes takes some of {', '.join(BACKENDS)}, comma-separated")
    # A stopped benchmark still stops its PostgreSQL cluster and removes its homes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # A background job starts with SIGINT ignored, and Dagster gives SIGTERM SIGINT's handler:
    # each run's compute-log `tail` children would then ignore SIGTERM and hold every run for
    # their 2 × 30 s kill timeout. Ctrl-C's usual handler keeps the runs as in a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    silence_dagster_previews()
    dataset.DATA.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_backends_", dir=dataset.DATA))
    saved = dict(os.environ)
    results: dict[str, Any] = {}
    try:
        report.log("baseline: the asset functions and checks without Dagster")
        plain = dataset.settings_for(work / "direct_home")
        t0, cpu = report.now_ms(), time.process_time()
        stages = direct(plain, args.start, args.end)
        results["direct"] = {
            "wall_s": round((report.now_ms() - t0) / 1000, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
            "normalized_rows": normalized_rows(plain),
            "stages_s": {k: round(v, 2) for k, v in stages.items()},
        }
        report.collect()

        if "sqlite" in passes:
            report.log("Dagster on SQLite (dev profile)")
            results["sqlite"] = on_profile(
                work / "sqlite_home", "dev", {}, args.start, args.end, args.days_per_run
            )
            report.collect()

        with postgres_server() as server:
            conditions = {
                "postgres_one_by_one": dagster_postgres_writes,
                "postgres_loaded_per_use": definitions_built_per_load,
                "postgres": nullcontext,
            }
            for name in (p for p in passes if p in conditions):
                condition = conditions[name]
                report.log(f"Dagster on PostgreSQL (test profile, a throwaway cluster): {name}")
                database = server.create_database(f"bench_{uuid.uuid4().hex[:8]}")
                with condition():
                    results[name] = on_profile(
                        work / f"{name}_home",
                        "test",
                        server.env(database),
                        args.start,
                        args.end,
                        args.days_per_run,
                    )
                report.collect()
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
        "direct_cpu_s": results["direct"]["cpu_s"],
        "direct_stages_s": results["direct"]["stages_s"],
        "target_ratio": TARGET_RATIO,
        "passes": passes,
    }
    for name in passes:
        r = results[name]
        figures[name] = {
            "storage": r["storage"],
            "wall_s": r["wall_s"],
            "ratio": round(r["wall_s"] / base, 2),
            "cpu_s": r["cpu_s"],
            "cpu_ratio": round(r["cpu_s"] / results["direct"]["cpu_s"], 2),
            "outside_runs_s": r["outside_runs_s"],
            "sql_per_partition": r["sql_per_partition"],
            "connections_per_partition": r["connections_per_partition"],
            "runs": r["runs"],
            "steps_s": {k: round(v, 2) for k, v in r["steps_s"].items()},
            "sql_by_kind_per_partition": r["sql_by_kind_per_partition"],
            "definitions_built": r["definitions_built"],
            "plans_made": r["plans_made"],
        }
    print_results(figures)
    report.save("instance_backends", figures)


def print_results(f: dict[str, Any]) -> None:
    """Each backend beside the baseline, then where each backend's time goes."""
    base = f["direct_s"]
    passes = f["passes"]
    report.table(
        f"Backfill {f['range'][0]}..{f['range'][1]} × {'/'.join(f['symbols'])}, "
        f"{f['normalized_rows']:,} normalized rows, runs of ≤ {f['days_per_run']} trade dates",
        [
            "measurement",
            "seconds",
            "× no Dagster",
            "CPU s",
            "CPU ×",
            "creating runs s",
            "SQL/partition",
            "connects/partition",
            "definitions built",
            "plans made",
            "target",
        ],
        [
            [
                "baseline: same functions, no Dagster",
                base,
                1.0,
                f["direct_cpu_s"],
                1.0,
                *(None for _ in range(5)),
                "",
            ],
            *(
                [
                    BACKENDS[name],
                    f[name]["wall_s"],
                    f[name]["ratio"],
                    f[name]["cpu_s"],
                    f[name]["cpu_ratio"],
                    f[name]["outside_runs_s"],
                    f[name]["sql_per_partition"],
                    f[name]["connections_per_partition"],
                    f[name]["definitions_built"],
                    f[name]["plans_made"],
                    target,
                ]
                for name in passes
                for target in [f"≤ {f['target_ratio']:.0f}×" if name == "postgres" else ""]
            ),
        ],
    )
    steps = dict.fromkeys(k for name in passes for k in f[name]["steps_s"])
    report.table(
        "Where the time goes: steps (sum over runs) per backend | direct stages",
        ["step / stage", *(f"{name} s" for name in passes)],
        [[f"step {k}", *(f[name]["steps_s"].get(k) for name in passes)] for k in steps]
        + [
            [f"direct: {k}", v, *(None for _ in passes[1:])]
            for k, v in f["direct_stages_s"].items()
        ],
    )
    pg = [name for name in passes if name.startswith("postgres")]
    kinds = dict.fromkeys(k for name in pg for k in f[name]["sql_by_kind_per_partition"])
    report.table(
        "PostgreSQL statements per partition by kind (the most frequent of each pass)",
        ["statement", *(f"{name}" for name in pg)],
        [[k, *(f[name]["sql_by_kind_per_partition"].get(k) for name in pg)] for k in kinds],
    )


if __name__ == "__main__":
    main()
