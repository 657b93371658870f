"""`market-spine status` wall time on a home with a year of runs, against the operator's limit
(5 s) and our goal (2 s).

The home: one real week of CL/ES/NG materialized through Dagster (so the lake, the light verify
and the check evaluations are real), plus a year of run records written through the run
storage's `add_historical_run` with their creation times spread over the year: every 15 minutes
a freshness-check run (35,040), each weekday three futures runs, an options run and a warehouse
run, one run in fifty failed, and two failures in the last day. Plus a year of daily check
evaluations per symbol (four checks) reported to the instance.

Measured: the whole command in a fresh process (`market-spine status --json`, imports
included), median of 5 after one warm-up, as this environment runs Python (PYTHONDONTWRITEBYTECODE
is set, so nothing is cached between commands):
- without bytecode (a pycache prefix nothing was compiled into): every import compiles its module,
  as before `make install` compiled the venv;
- as installed: reading the bytecode `make install` compiled (the same as the first row when the
  venv predates that step);
- as installed, plus the libraries the command imported before it loaded them lazily (pandas and
  polars): the baseline of the lazy imports, in the same run and with the same bytecode;
- with the home's API serving (`market-spine api`): the command reads the report the API
  computes (`GET /v1/status`) and loads no Dagster; the rows above are its baseline (no API
  on the port, so the command computes the report itself);
plus `collect_status` alone in this process (median of 5).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import dataset
import httpx
import report

from market_spine.home import instance as home_instance
from market_spine.operations.status import collect_status
from market_spine.runs.launch import materialize_range
from market_spine.runs.provenance import LAUNCHED_BY, LAUNCHED_FROM
from market_spine.security.bootstrap import ensure_admin_key
from market_spine.settings import Settings

LIMIT_S, GOAL_S = 5.0, 2.0
WEEK = (date(2024, 3, 4), date(2024, 3, 8))
SYMBOLS = ("CL", "ES", "NG")
ROUNDS = 5
CHECKS = ("completeness", "validity", "anomalies", "capture_validity")


def _run(job: str, status: dg.DagsterRunStatus, tags: dict[str, str]) -> dg.DagsterRun:
    return dg.DagsterRun(
        job_name=job,
        run_id=str(uuid.uuid4()),
        status=status,
        tags={LAUNCHED_BY: "bench", LAUNCHED_FROM: "schedule", **tags},
    )


def year_of_runs(instance: dg.DagsterInstance, now: datetime) -> int:
    """Run records for the year before `now`; the count."""
    storage = instance.run_storage
    ok, failed = dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE
    count = 0
    start = now - timedelta(days=365)
    for i in range(365 * 96):
        at = start + timedelta(minutes=15 * i)
        status = failed if i % 50 == 0 else ok
        storage.add_historical_run(_run("futures_freshness", status, {}), at)
        count += 1
        if i % 96 == 0 and at.weekday() < 5:
            day = at.date().isoformat()
            for symbol in SYMBOLS:
                tags = {"dagster/partition": f"{day}|{symbol}"}
                storage.add_historical_run(_run("__ASSET_JOB", ok, tags), at)
            storage.add_historical_run(_run("__ASSET_JOB", ok, {"dagster/partition": day}), at)
            storage.add_historical_run(_run("__ASSET_JOB", ok, {}), at)
            count += 5
    for hours in (2, 5):
        tags = {"dagster/partition": f"{(now - timedelta(hours=hours)).date()}|CL"}
        storage.add_historical_run(_run("__ASSET_JOB", failed, tags), now - timedelta(hours=hours))
        count += 1
    return count


def year_of_checks(instance: dg.DagsterInstance, now: datetime) -> int:
    """Daily check evaluations per symbol for the year; the count."""
    asset = dg.AssetKey(["normalized", "futures_bars_1m"])
    count = 0
    for d in range(365):
        day = (now - timedelta(days=365 - d)).date()
        if day.weekday() >= 5:
            continue
        for symbol in SYMBOLS:
            for check in CHECKS:
                instance.report_runless_asset_event(
                    dg.AssetCheckEvaluation(
                        asset_key=asset,
                        check_name=check,
                        passed=(d + len(check)) % 97 != 0,
                        partition=f"{day}|{symbol}",
                    )
                )
                count += 1
    return count


#: The command with the libraries it no longer imports loaded first (the lazy imports' baseline).
WITH_OLD_IMPORTS = (
    "import sys, pandas, polars; from market_spine.cli import app; "
    "sys.argv = ['market-spine', 'status', '--json']; app()"
)


def command_wall(env: dict[str, str], preload_old_imports: bool = False) -> list[float]:
    """Wall seconds of `market-spine status --json` in fresh processes (one warm-up first)."""
    exe = Path(sys.executable).parent / "market-spine"
    command = [str(exe), "status", "--json"]
    if preload_old_imports:
        command = [sys.executable, "-c", WITH_OLD_IMPORTS]
    walls = []
    for i in range(ROUNDS + 1):
        started = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=False)
        if i:
            walls.append(time.perf_counter() - started)
    return walls


@contextmanager
def serving_api(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """`market-spine api` for the home on a free port; yields the environment naming it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api_env = {**env, "MARKET_SPINE_API_PORT": str(port)}
    # The command sends the home's admin key, as after `market-spine up`.
    ensure_admin_key(Path(env["MARKET_SPINE_HOME"]))
    exe = Path(sys.executable).parent / "market-spine"
    server = subprocess.Popen(
        [str(exe), "api"], env=api_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield api_env
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    with dataset.scratch("status-") as root:
        measure(root)


def measure(root: Path) -> None:
    """Build the home under `root`, time the command every way, print and save the figures."""
    home = root / "home"
    settings = Settings.from_env({"MARKET_SPINE_HOME": str(home)})
    instance = home_instance(settings)
    started = time.perf_counter()
    runs = materialize_range(settings, SYMBOLS, *WEEK, instance=instance)
    assert all(r.success for r in runs), runs
    now = datetime.now(UTC)
    records = year_of_runs(instance, now) + len(runs)
    evaluations = year_of_checks(instance, now)
    print(
        f"home built in {time.perf_counter() - started:.0f} s: {records:,} runs, "
        f"{evaluations:,} check evaluations",
        flush=True,
    )

    inner = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        status = collect_status(settings, instance)
        inner.append(time.perf_counter() - t)
    assert len(status.failures) == 2, status.failures

    env = {
        **os.environ,
        "MARKET_SPINE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "PYTHONDONTWRITEBYTECODE": "1",
        # Nothing listens here: the command computes the report itself (the baseline rows).
        "MARKET_SPINE_API_PORT": "9",
    }
    env.pop("PYTHONPYCACHEPREFIX", None)
    plain = command_wall({**env, "PYTHONPYCACHEPREFIX": str(root / "no-pycache")})
    installed = command_wall(env)
    old_imports = command_wall(env, preload_old_imports=True)
    with serving_api(env) as api_env:
        through_api = command_wall(api_env)

    rows = [
        ("status command, no bytecode (this env)", statistics.median(plain), max(plain)),
        ("status command, as installed", statistics.median(installed), max(installed)),
        (
            "  baseline: + pandas, polars imported",
            statistics.median(old_imports),
            max(old_imports),
        ),
        (
            "status command, the home's API up",
            statistics.median(through_api),
            max(through_api),
        ),
        ("collect_status in process", statistics.median(inner), max(inner)),
    ]
    report.table(
        f"market-spine status on a home with {records:,} runs "
        f"(limit {LIMIT_S:.0f} s, goal {GOAL_S:.0f} s)",
        ["what", "median s", "max s", "vs limit 5 s", "vs goal 2 s"],
        [
            (
                what,
                f"{med:.2f}",
                f"{worst:.2f}",
                "PASS" if med <= LIMIT_S else "FAIL",
                "PASS" if med <= GOAL_S else "FAIL",
            )
            for what, med, worst in rows
        ],
    )
    report.save(
        "status",
        {
            "runs": records,
            "check_evaluations": evaluations,
            "limit_s": LIMIT_S,
            "goal_s": GOAL_S,
            "command_no_bytecode_s": plain,
            "command_installed_s": installed,
            "command_with_old_imports_s": old_imports,
            "command_through_api_s": through_api,
            "collect_status_s": inner,
        },
    )
    instance.dispose()


if __name__ == "__main__":
    main()
