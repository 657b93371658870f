"""What authentication costs a data read: `GET /v1/bars` of one CL session as JSON (≈1,380 rows)
at 8 and 32 concurrent clients, the API with authentication off against on, in the same run.

The API runs as `market-spine api` in its own process (so the clients do not share its GIL) on a
home holding one materialized session; the clients are httpx async tasks, each sending its next
request as soon as the last one answered, for `SECONDS` per round. With authentication on every
request carries an API key (verified once, then from the in-memory cache), passes the route's
role and dataset checks and the per-key rate limiter (its rate set high enough never to refuse).
Rounds alternate off / on / off / on; each side's figures are the better of its two rounds.
Goal: requests/s with auth on ≥ 90 % of off.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import dataset
import httpx
import report

from market_spine.home import instance as home_instance
from market_spine.runs.launch import materialize_range
from market_spine.security.credentials import Authenticator
from market_spine.security.keys import KeyStore
from market_spine.security.limits import RateLimiter
from market_spine.settings import Settings

DAY = date(2024, 3, 5)
CLIENTS = (8, 32)
SECONDS = 8.0
GOAL = 0.10
PARAMS = {"symbol": "CL", "start": DAY.isoformat()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(home: Path, auth: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "MARKET_SPINE_HOME": str(home),
        "MARKET_SPINE_AUTH": auth,
        "MARKET_SPINE_API_RATE_LIMIT": "1000000",
    }
    exe = Path(sys.executable).parent / "market-spine"
    cmd = [str(exe), "api", "--port", str(port), "--log-level", "error"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the API did not start: {proc.stderr.read() if proc.stderr else ''}")


async def _load(url: str, clients: int, headers: dict[str, str]) -> dict[str, Any]:
    """`clients` tasks reading the bars back to back for SECONDS: requests/s and latency."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as c:
        for _ in range(clients):  # warm: connections, the key cache, the lake snapshot
            assert (await c.get("/v1/bars", params=PARAMS)).status_code == 200
        stop = time.perf_counter() + SECONDS

        async def client() -> None:
            while time.perf_counter() < stop:
                started = report.now_ms()
                answer = await c.get("/v1/bars", params=PARAMS)
                assert answer.status_code == 200, answer.text
                latencies.append(report.now_ms() - started)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - began
    return {"rps": len(latencies) / wall, **report.latency(latencies)}


def _round(home: Path, auth: str, clients: int, token: str) -> dict[str, Any]:
    proc, url = _serve(home, auth)
    try:
        headers = {"Authorization": f"Bearer {token}"} if auth == "on" else {}
        if auth == "on":
            assert httpx.get(f"{url}/v1/bars", params=PARAMS).status_code == 401
        return asyncio.run(_load(url, clients, headers))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _per_call_us(fn: Any, n: int = 200_000) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def in_process(home: Path, token: str) -> dict[str, float]:
    """Microseconds per call of the per-request steps: the token bucket and the cached key
    lookup, beside an empty call (the loop's own cost)."""
    limiter = RateLimiter(1e9, 10**9)
    auth = Authenticator(KeyStore(home))
    auth.verify(token)
    return {
        "empty_call_us": _per_call_us(lambda: None),
        "rate_limiter_take_us": _per_call_us(lambda: limiter.take("key:bench")),
        "cached_key_us": _per_call_us(lambda: auth.cached(token)),
    }


def main() -> None:
    with dataset.scratch("auth-") as root:
        measure(root / "home")


def measure(home: Path) -> None:
    """Load one CL session into `home`, then run the alternating rounds; print and save."""
    settings = Settings.from_env({"MARKET_SPINE_HOME": str(home)})
    instance = home_instance(settings)
    runs = materialize_range(settings, ["CL"], DAY, DAY, instance=instance)
    assert all(r.success for r in runs), runs
    instance.dispose()
    token = KeyStore(home).create("reader", ("normalized/*",), name="bench").token
    figures: dict[str, Any] = {"goal_overhead": GOAL, "seconds_per_round": SECONDS}
    rows = []
    for clients in CLIENTS:
        best: dict[str, dict[str, Any]] = {}
        for auth in ("off", "on", "off", "on"):
            got = _round(home, auth, clients, token)
            print(f"{clients} clients, auth {auth}: {got['rps']:.0f} req/s", flush=True)
            if auth not in best or got["rps"] > best[auth]["rps"]:
                best[auth] = got
        overhead = 1 - best["on"]["rps"] / best["off"]["rps"]
        figures[f"clients_{clients}"] = {**best, "overhead": round(overhead, 4)}
        for auth in ("off", "on"):
            b = best[auth]
            rows.append(
                (
                    clients,
                    f"auth {auth}" + (" (baseline)" if auth == "off" else ""),
                    round(b["rps"], 1),
                    b["p50_ms"],
                    b["p99_ms"],
                    "" if auth == "off" else f"{overhead:+.1%}",
                    "" if auth == "off" else ("PASS" if overhead <= GOAL else "FAIL"),
                )
            )
    report.table(
        f"GET /v1/bars, one CL session as JSON, best of 2 rounds of {SECONDS:g} s "
        f"(goal: overhead ≤ {GOAL:.0%})",
        ["clients", "API", "req/s", "p50 ms", "p99 ms", "overhead", "goal"],
        rows,
    )
    steps = in_process(home, token)
    figures["in_process_us"] = steps
    report.table(
        "per-request steps in process (µs a call, 200,000 calls)",
        ["step", "µs"],
        [(name, round(us, 3)) for name, us in steps.items()],
    )
    report.save("auth_overhead", figures)


if __name__ == "__main__":
    main()
