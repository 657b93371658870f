"""`GET /metrics` latency on a home with a year of runs, against `GET /healthz` on the same
server (the floor of an HTTP round trip) and `collect_status` (the morning check's reads).

The home is `status.py`'s: one real week of CL/ES/NG materialized through Dagster, a year of
run records (every 15 minutes a freshness-check run, each weekday five loads, one run in fifty
failed) and a year of daily check evaluations per symbol, plus one freshness judgement.

Measured over real HTTP on loopback (uvicorn in a thread, httpx): the first scrape of an API
that warmed the home's metrics at start (off the request path), beside the baseline, the first
scrape of one started without that warm-up (it computes the home's part on the request path:
its run tally reads a day of finished runs), scrapes inside the 15 s cache
(median of 20), scrapes that recompute (the cache expired; the tally reads only what is new;
median of 5), `/healthz` (median of 20), and `collect_status` without the light verify.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dataset
import httpx
import report
import uvicorn
from fastapi import FastAPI
from status import SYMBOLS, WEEK, year_of_checks, year_of_runs

from market_spine.api.app import create_app
from market_spine.home import instance as home_instance
from market_spine.operations.freshness import freshness_job
from market_spine.operations.status import collect_status
from market_spine.runs.launch import materialize_range
from market_spine.settings import Settings

GOAL_S = 1.0
ROUNDS = 20


def _judge_freshness(settings: Settings) -> None:
    """One run of the freshness job, as its schedule runs it, so lags are there to serve."""
    from market_spine.definitions import build_definitions

    defs = build_definitions(settings)
    defs.resolve_job_def(freshness_job.name).execute_in_process(
        instance=home_instance(settings), raise_on_error=False
    )


def _timed(client: httpx.Client, path: str, rounds: int) -> list[float]:
    walls = []
    for _ in range(rounds):
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        walls.append(time.perf_counter() - started)
    return walls


@contextmanager
def _served(app: FastAPI, lifespan: str) -> Iterator[tuple[httpx.Client, float]]:
    """`app` served by uvicorn on loopback (`lifespan` on or off), with a client of it and the
    `perf_counter` at which the server was up."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    started = time.perf_counter()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            yield client, started
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def main() -> None:
    with dataset.scratch("metrics-") as root:
        measure(root)


def measure(root: Path) -> None:
    """Build the home under `root`, time the scrapes and their baselines, print and save them."""
    home = root / "home"
    settings = Settings.from_env({"MARKET_SPINE_HOME": str(home)})
    instance = home_instance(settings)
    started = time.perf_counter()
    runs = materialize_range(settings, SYMBOLS, *WEEK, instance=instance)
    assert all(r.success for r in runs), runs
    _judge_freshness(settings)
    now = datetime.now(UTC)
    records = year_of_runs(instance, now) + len(runs) + 1
    evaluations = year_of_checks(instance, now)
    print(
        f"home built in {time.perf_counter() - started:.0f} s: {records:,} runs, "
        f"{evaluations:,} check evaluations",
        flush=True,
    )

    # Baseline: the API started without its start-up work (no lifespan, as before the
    # warm-up), so its first scrape computes the home's metrics on the request path.
    with _served(create_app(settings), lifespan="off") as (client, _):
        cold = _timed(client, "/metrics", 1)

    app = create_app(settings)
    home_metrics = app.state.home_metrics
    with _served(app, lifespan="on") as (client, started):
        assert home_metrics.warmed.wait(120), "the metrics were not warmed at start"
        warm_up = time.perf_counter() - started
        first = _timed(client, "/metrics", 1)
        body = client.get("/metrics").text
        assert "market_spine_freshness_lag_seconds{" in body, "no freshness lag served"
        cached = _timed(client, "/metrics", ROUNDS)
        recomputed = []
        for _ in range(5):
            home_metrics._computed_at = None  # as if the 15 s had passed
            recomputed += _timed(client, "/metrics", 1)
        healthz = _timed(client, "/healthz", ROUNDS)
    status = []
    for _ in range(5):
        t = time.perf_counter()
        collect_status(settings, instance, verify=False)
        status.append(time.perf_counter() - t)

    rows = [
        ("GET /metrics, first scrape (warmed at start)", first[0], first[0]),
        ("baseline: first scrape, no warm-up (cold)", cold[0], cold[0]),
        ("GET /metrics, cache expired", statistics.median(recomputed), max(recomputed)),
        ("GET /metrics, inside the 15 s cache", statistics.median(cached), max(cached)),
        ("baseline: GET /healthz", statistics.median(healthz), max(healthz)),
        ("baseline: collect_status, no verify", statistics.median(status), max(status)),
    ]
    report.table(
        f"/metrics on a home with {records:,} runs and {evaluations:,} check evaluations "
        f"(goal {GOAL_S:.0f} s)",
        ["what", "median s", "max s", "vs goal 1 s"],
        [
            (what, f"{med:.3f}", f"{worst:.3f}", "PASS" if worst <= GOAL_S else "FAIL")
            for what, med, worst in rows
        ],
    )
    print(f"warm-up at start, off the request path: {warm_up:.3f} s after the server started")
    report.save(
        "metrics_scrape",
        {
            "runs": records,
            "check_evaluations": evaluations,
            "goal_s": GOAL_S,
            "first_s": first,
            "first_cold_s": cold,
            "warm_up_s": warm_up,
            "recomputed_s": recomputed,
            "cached_s": cached,
            "healthz_s": healthz,
            "collect_status_s": status,
        },
    )
    instance.dispose()


if __name__ == "__main__":
    main()
