"""`market-spine gaps` over five years × every dataset, against the persona's limit (5 min) and
our goal (≤ 2 s), beside a per-partition baseline measured in the same run.

The instance state is built cheaply, without running assets: materializations written in bulk
into the instance's event log (its own batch insert) for every owed partition of
2021-01-01..2025-12-31 (futures CL, ES, NG × raw, normalized, daily; the option chain, quotes,
greeks and surface from their first partition, 2022-01-03), minus a seeded 2 % left never
attempted and 0.5 % planned by runs that failed; and 20 successful runs (futures and options,
8 s per five-day range) to measure run times by.

Measured:
- cold: `find_gaps` on the fresh instance (the asset status cache is built from the event log);
- warm: `find_gaps` again, best of 3 (the cache the UI keeps current is read);
- CLI: `market-spine gaps --export json` in its own process, wall (imports included), median
  of 3: computing the report itself (`--local`, the baseline of the next row) and reading it
  from the home's API (`market-spine api` serving, `GET /v1/gaps`: no Dagster loads);
- calendars: five years of CL/ES/NG sessions and of Cboe trading days, with each calendar made
  once (as now) and, the baseline, made again per year (as before);
- baseline: the same answer one query per partition (`fetch_materializations`, then
  `fetch_planned_materializations`, filtered to the partition), the way a script over the public
  per-partition API would ask.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import report
from dagster._core.events import (
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventType,
    StepMaterializationData,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from status import serving_api

from market_spine.home import instance as home_instance
from market_spine.markets import calendars, expirations
from market_spine.operations.gaps import FAILED, NEVER, _expected, datasets, find_gaps
from market_spine_tests.kit.homes import settings_for

START, END = date(2021, 1, 1), date(2025, 12, 31)
SEED = 5
NEVER_SHARE, FAILED_SHARE = 0.02, 0.005
LIMIT_S, GOAL_S = 300.0, 2.0
BENCH = Path(__file__).resolve().parent


def _event(run_id: str, kind: DagsterEventType, data: Any, at: float) -> EventLogEntry:
    event = DagsterEvent(kind.value, job_name="__ASSET_JOB", event_specific_data=data)
    return EventLogEntry(
        error_info=None,
        level="INFO",
        user_message="",
        run_id=run_id,
        timestamp=at,
        dagster_event=event,
    )


def store_in_bulk(inst: dg.DagsterInstance, events: list[EventLogEntry]) -> None:
    """Asset events into the instance's cross-run index in a few transactions: a row per event
    through the storage's own batch insert, then each asset's last materialization and last
    planned event through `store_event`, which also updates the asset's record (the latest
    storage ids the status cache starts from). Event by event, SQLite commits each one: about
    20 minutes for these on a loaded 2-core machine."""
    storage = inst.event_log_storage
    last: dict[tuple[dg.AssetKey, str], EventLogEntry] = {}
    for event in events:
        dagster_event = event.get_dagster_event()
        last[(dagster_event.asset_key, dagster_event.event_type_value)] = event  # type: ignore[index]
    finals = {id(e) for e in last.values()}
    bulk = [e for e in events if id(e) not in finals]
    with storage.index_transaction() as conn:  # type: ignore[attr-defined]
        for i in range(0, len(bulk), 500):
            conn.execute(storage.prepare_insert_event_batch(bulk[i : i + 500]))  # type: ignore[attr-defined]
    for event in last.values():
        storage.store_event(event)


def build_state(inst: dg.DagsterInstance, settings: Any) -> dict[str, int]:
    """Materializations for every owed partition except the seeded never/failed ones; the
    failed ones planned by failed runs; 20 successful runs to measure run times by. Counts by
    kind."""
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    failed_runs = [
        dg.DagsterRun(job_name="__ASSET_JOB", run_id=f"failed-{i:04d}") for i in range(8)
    ]
    for run in failed_runs:
        inst.add_run(run.with_status(dg.DagsterRunStatus.FAILURE))
    events: list[EventLogEntry] = []
    counts = {"materialized": 0, "never": 0, "failed": 0}
    at = time.time() - 86_400
    for dataset in datasets(settings, ("futures", "options")):
        for key in _expected(dataset.domain, settings.symbols, START, END, now):
            draw = rng.random()
            if draw < NEVER_SHARE:
                counts["never"] += 1
                continue
            at += 0.001
            if draw < NEVER_SHARE + FAILED_SHARE:
                counts["failed"] += 1
                run_id = rng.choice(failed_runs).run_id
                data = AssetMaterializationPlannedData(dataset.key, partition=key)
                events.append(
                    _event(run_id, DagsterEventType.ASSET_MATERIALIZATION_PLANNED, data, at)
                )
                continue
            counts["materialized"] += 1
            mat = dg.AssetMaterialization(dataset.key, partition=key)
            events.append(
                _event("", DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(mat), at)
            )
    store_in_bulk(inst, events)
    ranges = {
        "futures": ("2025-03-03|CL", "2025-03-07|CL"),
        "options": ("2025-03-03", "2025-03-07"),
    }
    for i in range(20):
        domain = ("futures", "options")[i % 2]
        first, last = ranges[domain]
        run = dg.DagsterRun(
            job_name="__ASSET_JOB",
            run_id=f"ok-{i:04d}",
            asset_selection=frozenset(d.key for d in datasets(settings, (domain,))),
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        )
        inst.add_run(run)
        begin = time.time() - 3600 + i * 60
        for kind, t in (
            (DagsterEventType.RUN_START, begin),
            (DagsterEventType.RUN_SUCCESS, begin + 8),
        ):
            inst.handle_new_event(_event(run.run_id, kind, None, t))
    return counts


def baseline(inst: dg.DagsterInstance, settings: Any) -> tuple[float, int, int]:
    """A materialization query per owed partition, then a planned-run query for those without
    one (a planned, unmaterialized partition here is one a failed run left): seconds, never,
    failed."""
    now = datetime.now(UTC)
    never = failed = 0
    started = time.perf_counter()
    for dataset in datasets(settings, ("futures", "options")):
        for key in _expected(dataset.domain, settings.symbols, START, END, now):
            records = dg.AssetRecordsFilter(asset_key=dataset.key, asset_partitions=[key])
            if inst.fetch_materializations(records, limit=1).records:
                continue
            planned = inst.fetch_planned_materializations(records, limit=1).records
            failed += bool(planned)
            never += not planned
    return time.perf_counter() - started, never, failed


def home_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": "test"}
    # Nothing listens here unless `serving_api` names the API's port.
    return {**env, "DAGSTER_HOME": str(home / "dagster"), "MARKET_SPINE_API_PORT": "9"}


def cli_wall(env: dict[str, str], *flags: str) -> float:
    """Median wall seconds of `market-spine gaps` over the range in its own process (of 3)."""
    command = [
        sys.executable, "-m", "market_spine.cli", "gaps",
        "--start", START.isoformat(), "--end", END.isoformat(),
        "--export", "json", "--output", os.devnull, *flags,
    ]  # fmt: skip
    walls = []
    for _ in range(3):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - started)
        assert done.returncode == 1, done.stderr  # gaps were seeded: exit status 1
    return statistics.median(walls)


def calendar_seconds(kept: bool) -> float:
    """Seconds to list five years of CL/ES/NG sessions and Cboe trading days from cold caches,
    each calendar made once (`kept`) or made again for every year, as before."""
    import pandas_market_calendars as mcal

    caches = (
        calendars._calendar, calendars._schedule, calendars._year,
        expirations._calendar, expirations._sessions, expirations._trading_days,
    )  # fmt: skip
    for cache in caches:
        cache.cache_clear()
    saved = calendars._calendar, expirations._calendar
    if not kept:
        calendars._calendar = mcal.get_calendar  # type: ignore[assignment]
        expirations._calendar = lambda: mcal.get_calendar(expirations.CALENDAR)  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        for root in ("CL", "ES", "NG"):
            calendars.sessions(root, START, END)
        expirations.closed_weekdays(START, END)
        return time.perf_counter() - started
    finally:
        calendars._calendar, expirations._calendar = saved


def _verdict(measure: str, seconds: float) -> str:
    """PASS or MISS against the goal for an answer; the calendars are a part of one."""
    if measure.startswith("calendars"):
        return "part"
    return "PASS" if seconds <= GOAL_S else "MISS"


def main() -> None:
    warnings.simplefilter("ignore")  # Dagster's preview and deprecation notices, once per call
    data = BENCH / ".data"
    data.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gaps-", dir=data))
    try:
        settings = settings_for(work / "home")
        inst = home_instance(settings)
        report.log("building the instance state (bulk-reported events)")
        started = time.perf_counter()
        counts = build_state(inst, settings)
        setup_s = time.perf_counter() - started
        report.log(f"state: {counts} in {setup_s:.1f} s")

        cold_s, cold = report.time_ms(lambda: find_gaps(inst, settings, START, END))
        warm = []
        for _ in range(3):
            ms, result = report.time_ms(lambda: find_gaps(inst, settings, START, END))
            warm.append(ms)
        assert result.count(NEVER) == counts["never"], (result.count(NEVER), counts)
        assert result.count(FAILED) == counts["failed"], (result.count(FAILED), counts)
        assert cold.owed == result.owed == sum(counts.values())
        env = home_env(settings.home)
        cli_s = cli_wall(env, "--local")
        with serving_api(env) as served:
            cli_api_s = cli_wall(served)
        fresh_s, kept_s = calendar_seconds(kept=False), calendar_seconds(kept=True)
        report.log("baseline: one query per partition")
        base_s, base_never, base_failed = baseline(inst, settings)
        assert (base_never, base_failed) == (counts["never"], counts["failed"])

        figures = {
            "range": f"{START}..{END}",
            "owed_partitions": result.owed,
            "gaps_never": counts["never"],
            "gaps_failed": counts["failed"],
            "state_setup_s": round(setup_s, 1),
            "find_gaps_cold_s": round(cold_s / 1000, 3),
            "find_gaps_warm_s": round(min(warm) / 1000, 3),
            "cli_wall_s": round(cli_s, 2),
            "cli_through_api_s": round(cli_api_s, 2),
            "calendars_made_per_year_s": round(fresh_s, 2),
            "calendars_kept_s": round(kept_s, 2),
            "baseline_per_partition_s": round(base_s, 2),
            "estimate_s": result.estimate_seconds(),
            "limit_s": LIMIT_S,
            "goal_s": GOAL_S,
        }
        report.table(
            f"gaps over {START}..{END}: {result.owed:,} owed asset partitions, "
            f"{len(result.gaps):,} gaps",
            ["measure", "seconds", "persona limit", "goal", "verdict"],
            [
                [name, s, LIMIT_S, GOAL_S, _verdict(name, s)]
                for name, s in (
                    ("find_gaps cold (cache built)", figures["find_gaps_cold_s"]),
                    ("find_gaps warm (best of 3)", figures["find_gaps_warm_s"]),
                    ("market-spine gaps --local (process wall)", figures["cli_wall_s"]),
                    ("market-spine gaps from the API (process wall)", figures["cli_through_api_s"]),
                    (
                        "calendars, 5 years: made per year (before)",
                        figures["calendars_made_per_year_s"],
                    ),
                    ("calendars, 5 years: made once (now)", figures["calendars_kept_s"]),
                    ("baseline: a query per partition", figures["baseline_per_partition_s"]),
                )
            ],
        )
        report.save("gaps", figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
