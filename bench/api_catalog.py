"""The API under load on a home with data: `/v1/catalog` while a dbt build holds the warehouse,
`/healthz` beside 48 catalog clients, and server memory under 8 concurrent whole-day quote reads.

The API runs in its own process (uvicorn on loopback); clients are threads of this process.
- (a) `/v1/catalog` p50/p99 at 16 concurrent clients for PHASE_S, idle and while this process
  holds the warehouse lock exclusively (as a dbt build does); target p99 ≤ 50 ms.
- (b) `/healthz` p50/p99 from one client while 48 clients read the catalog.
- (c) peak server RSS while 8 clients read a whole day of option quotes at once: ours as
  Arrow streams and as JSON pages (limit = the row cap), against one unbounded JSON body.
Baselines in the same run, served by the same process: the catalog as it was built per request
(`describe_all` over the lake, the warehouse under its shared lock and a Dagster instance opened
per request), and the quotes day rendered as one JSON body.

Usage: `.venv/bin/python bench/api_catalog.py [HOME]` (default `$MARKET_SPINE_HOME`), on a home
with a warehouse and an options day, e.g. after `market-spine process --date 2024-03-05`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import report
from fastapi import Request, Response

PHASE_S = 6.0
LOCKED_PHASE_S = 12.0  # the old path waits 10 s for the lock before it fails
CLIENTS = 16
HEALTH_CLIENTS = 48
BIG_READERS = 8
TARGET_P99_MS = 50.0


def serve(home: str, port: int) -> None:
    """The server process: the app plus the two baseline routes."""
    import uvicorn

    from market_spine.api import create_app
    from market_spine.api.formats import render_json
    from market_spine.catalog.registry import describe_all
    from market_spine.home import existing_instance
    from market_spine.settings import Settings

    # Authentication off: this measures the catalog and the reads (auth_overhead.py measures
    # authentication), and the baseline routes below carry no guard either.
    settings = Settings.from_env({"MARKET_SPINE_HOME": home, "MARKET_SPINE_AUTH": "off"})
    app = create_app(settings)

    @app.get("/bench/catalog-per-request")
    def catalog_per_request(request: Request) -> dict[str, Any]:
        spine = request.app.state.spine
        datasets = describe_all(spine.lake, existing_instance(spine.settings))
        for full in datasets:
            full.pop("columns")
        return {"datasets": datasets}

    @app.get("/bench/quotes-one-body")
    def quotes_one_body(request: Request, date: str) -> Response:
        frame = request.app.state.spine.quotes(date)
        body = render_json(frame, {"date": date})
        return Response(body, media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def hammer(
    base: str, path: str, clients: int, seconds: float, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """`clients` threads GET `path` in a loop for `seconds`: latencies and status counts."""
    samples: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while time.monotonic() < deadline:
                started = report.now_ms()
                status = http.get(path, params=params).status_code
                took = report.now_ms() - started
                with lock:
                    samples.append(took)
                    statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {**report.latency(samples), "requests": len(samples), "statuses": statuses}


def beside(base: str, background: Callable[[], Any], path: str, seconds: float) -> dict[str, Any]:
    """Latency of `path` from one client while `background` runs."""
    worker = threading.Thread(target=background)
    worker.start()
    time.sleep(0.5)
    measured = hammer(base, path, 1, seconds - 1.0)
    worker.join()
    return measured


def peak_rss(pid: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """Peak RSS of `pid` (MiB, sampled every 20 ms) while `work` runs."""
    peak = rss_mib(pid)
    done = threading.Event()
    out: list[Any] = []

    def run() -> None:
        out.append(work())
        done.set()

    threading.Thread(target=run).start()
    while not done.is_set():
        peak = max(peak, rss_mib(pid))
        time.sleep(0.02)
    return peak, out[0]


def concurrent_reads(base: str, path: str, params: dict[str, str]) -> dict[str, Any]:
    """BIG_READERS clients read at once; every page is followed (Link) to the end."""
    results: list[tuple[int, int]] = []

    def reader() -> None:
        with httpx.Client(base_url=base, timeout=300) as http:
            url: str | None = path
            query: dict[str, str] | None = params
            size = 0
            status = 0
            while url:
                r = http.get(url, params=query)
                status, size = r.status_code, size + len(r.content)
                link = r.headers.get("Link")
                url, query = (link[1 : link.index(">")], None) if link else (None, None)
            results.append((status, size))

    threads = [threading.Thread(target=reader) for _ in range(BIG_READERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "wall_s": time.perf_counter() - started,
        "statuses": sorted({s for s, _ in results}),
        "mib_per_reader": results[0][1] / 2**20 if results else 0,
    }


def main() -> None:
    home = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MARKET_SPINE_HOME", "")
    if not home or not (Path(home) / "warehouse" / "spine.duckdb").is_file():
        sys.exit(
            "pass a home with a built warehouse and an options day, e.g. after "
            "`market-spine process --date 2024-03-05` (argument or MARKET_SPINE_HOME)"
        )
    from market_spine.warehouse.lock import warehouse_lock

    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", home, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        httpx.get(f"{base}/v1/catalog", timeout=60)  # the first listing
        lock = Path(home) / "warehouse" / "spine.lock"
        figures: dict[str, Any] = {}
        for name, path in (("ours", "/v1/catalog"), ("per_request", "/bench/catalog-per-request")):
            report.log(f"catalog {name}: idle")
            figures[f"catalog_{name}_idle"] = hammer(base, path, CLIENTS, PHASE_S)
            report.log(f"catalog {name}: the warehouse lock held")
            with warehouse_lock(lock):
                seconds = PHASE_S if name == "ours" else LOCKED_PHASE_S
                figures[f"catalog_{name}_locked"] = hammer(base, path, CLIENTS, seconds)
        for name, path in (("ours", "/v1/catalog"), ("per_request", "/bench/catalog-per-request")):
            report.log(f"healthz beside {HEALTH_CLIENTS} catalog clients ({name})")
            figures[f"healthz_beside_{name}"] = beside(
                base, lambda p=path: hammer(base, p, HEALTH_CLIENTS, PHASE_S), "/healthz", PHASE_S
            )
        day = {"date": "2024-03-05"}
        for name, path, params in (
            ("arrow", "/v1/options/quotes", {**day, "format": "arrow"}),
            ("json_pages", "/v1/options/quotes", {**day, "limit": "50000"}),
            ("one_body", "/bench/quotes-one-body", day),
        ):
            report.log(f"{BIG_READERS} concurrent whole-day quote reads: {name}")
            before = rss_mib(server.pid)
            peak, run = peak_rss(server.pid, lambda p=path, q=params: concurrent_reads(base, p, q))
            figures[f"quotes_{name}"] = {**run, "rss_before_mib": before, "rss_peak_mib": peak}
    finally:
        server.terminate()
        server.wait(timeout=30)

    report.save("api_catalog", figures)
    rows = []
    for key in ("idle", "locked"):
        for name in ("ours", "per_request"):
            f = figures[f"catalog_{name}_{key}"]
            rows.append(
                [f"/v1/catalog {key}", name, f["p50_ms"], f["p99_ms"], f["requests"], f["statuses"]]
            )
    for name in ("ours", "per_request"):
        f = figures[f"healthz_beside_{name}"]
        rows.append(
            [f"/healthz beside {HEALTH_CLIENTS}", name, f["p50_ms"], f["p99_ms"], f["requests"], ""]
        )
    print(
        report.table(
            f"API latency, ms ({CLIENTS} catalog clients; locked = as while dbt builds)",
            ["what", "path", "p50", "p99", "requests", "statuses"],
            rows,
        )
    )
    print(
        report.table(
            f"{BIG_READERS} concurrent reads of a whole quotes day: server RSS, MiB",
            ["answer", "before", "peak", "wall s", "MiB per reader", "statuses"],
            [
                [
                    name,
                    figures[f"quotes_{name}"]["rss_before_mib"],
                    figures[f"quotes_{name}"]["rss_peak_mib"],
                    figures[f"quotes_{name}"]["wall_s"],
                    figures[f"quotes_{name}"]["mib_per_reader"],
                    figures[f"quotes_{name}"]["statuses"],
                ]
                for name in ("arrow", "json_pages", "one_body")
            ],
        )
    )
    p99 = figures["catalog_ours_locked"]["p99_ms"]
    verdict = "PASS" if p99 <= TARGET_P99_MS else "FAIL"
    print(
        f"catalog p99 while the lock is held: {p99:.1f} ms (target ≤ {TARGET_P99_MS} ms) {verdict}"
    )
    report.save("api_catalog", figures)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
