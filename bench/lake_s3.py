"""The lake on object storage against the local disk, in the same run: write and point-read
throughput, and concurrent writers from separate processes. The object-store lake is measured
twice: with its integrity ledger in the home (SQLite, one machine) and, as a deployment whose
nodes share no home runs it, in PostgreSQL (`state_database`), where each writer process has a
home of its own (a node).

S3 is moto's server (`python -m moto.server`, its own process on loopback), so the figures say
what our code and the protocol cost (requests, whole-object PUTs, no local page cache), not what
AWS's latency adds. Measured on a quarter of CL/ES/NG minute bars (2024-01..03, simulated):

- bulk write: one `Lake.replace` per symbol of its whole quarter (rows/s, MB/s);
- daily commits: 20 one-day `replace` commits of CL (commits/s);
- point reads: one session of one symbol, warm (a process that has read before) p50/p99 over
  100 random pairs after 20 warm-ups, and cold (a new Lake, the ledger's verified-file cache
  cleared, so each file is hashed once) p50/p99 over 10;
- concurrent writers: 4 processes × 20 one-row appends to one raw table at once (each retries
  on a commit conflict as the store does): wall, commits/s, commits lost (0 expected) and rows
  duplicated (0 expected).

PostgreSQL is a throwaway cluster on loopback (TLS, password), as the tests start it.

Run: `.venv/bin/python bench/lake_s3.py` (≈ 3 min on 2 cores).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
from datetime import date
from pathlib import Path
from typing import Any

import dataset
import polars as pl
import report

from market_spine.lake import Lake
from market_spine.lake.integrity import ledger_at
from market_spine.settings import Settings
from market_spine_tests.kit.postgres import PostgresServer, postgres_server
from market_spine_tests.kit.s3 import S3Server, s3_server

START, END = date(2024, 1, 1), date(2024, 3, 31)
DAILY_COMMITS = 20
WARM_READS, WARM_UP, COLD_READS = 100, 20, 10
WRITERS, APPENDS = 4, 20
RAW = "raw/bench_appends"


def _bulk_write(lake: Lake, frame: pl.DataFrame) -> dict[str, float]:
    started = time.perf_counter()
    dataset.write_lake(lake, frame)
    seconds = time.perf_counter() - started
    files = lake.snapshot(dataset.DATASET).files
    megabytes = sum(f.size for f in files) / 1e6
    return {
        "seconds": round(seconds, 2),
        "rows_per_s": round(frame.height / seconds),
        "mb_per_s": round(megabytes / seconds, 1),
        "files": len(files),
        "mb": round(megabytes, 1),
    }


def _daily_commits(lake: Lake, frame: pl.DataFrame, days: list[date]) -> dict[str, float]:
    cl = frame.filter(pl.col("symbol") == "CL")
    started = time.perf_counter()
    for day in days:
        rows = cl.filter(pl.col("trade_date") == day)
        dataset.replace_sessions(lake, dataset.DATASET, rows, "CL", day, day)
    seconds = time.perf_counter() - started
    return {"commits_per_s": round(len(days) / seconds, 1), "seconds": round(seconds, 2)}


def _point_reads(
    open_lake: Any, pairs: list[tuple[str, date]], cold_pairs: list[tuple[str, date]]
) -> dict[str, Any]:
    lake = open_lake()

    def read(lake: Lake, symbol: str, day: date) -> int:
        between = {"trade_date": (day, day)}
        return lake.read(dataset.DATASET, equals={"symbol": symbol}, between=between).height

    for symbol, day in pairs[:WARM_UP]:
        read(lake, symbol, day)
    warm = [report.time_ms(lambda s=s, d=d: read(lake, s, d))[0] for s, d in pairs[WARM_UP:]]
    cold = []
    for symbol, day in cold_pairs:
        fresh = open_lake()
        fresh.ledger.forget_verified()
        cold.append(report.time_ms(lambda f=fresh, s=symbol, d=day: read(f, s, d))[0])
    return {"warm": report.latency(warm), "cold": report.latency(cold)}


def _appender(env: dict[str, str], writer: int, count: int, start: Any) -> None:
    # libpq reads its password and CA from the environment; a fresh process, no thread yet.
    os.environ.update({k: v for k, v in env.items() if k.startswith("PG")})
    if env.get("MARKET_SPINE_STATE_DATABASE"):
        env = {**env, "MARKET_SPINE_HOME": f"{env['MARKET_SPINE_HOME']}-node-{writer}"}
    lake = Settings.from_env(env).lake()
    start.wait()
    for seq in range(count):
        row = pl.DataFrame({"symbol": ["CL"], "writer": [writer], "seq": [seq]})
        lake.append(RAW, row, partition_by=["symbol"])


def _concurrent(env: dict[str, str]) -> dict[str, Any]:
    settings = Settings.from_env(env)
    seed = pl.DataFrame({"symbol": ["CL"], "writer": [-1], "seq": [-1]})
    settings.lake().append(RAW, seed, partition_by=["symbol"])
    spawn = mp.get_context("spawn")
    start = spawn.Barrier(WRITERS + 1)
    procs = [spawn.Process(target=_appender, args=(env, w, APPENDS, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    start.wait()
    began = time.perf_counter()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - began
    ledger_at.cache_clear()
    rows = Lake(settings.lake_location).read(RAW).filter(pl.col("writer") >= 0)
    expected = WRITERS * APPENDS
    landed = rows.select("writer", "seq").n_unique()
    return {
        "writers": WRITERS,
        "appends_each": APPENDS,
        "seconds": round(seconds, 2),
        "commits_per_s": round(expected / seconds, 1),
        "lost": expected - landed,
        "duplicated": rows.height - landed,
        "failed_processes": sum(p.exitcode != 0 for p in procs),
        "versions": settings.lake().version(RAW),
    }


def main() -> None:
    report.log("simulating a quarter of CL/ES/NG minute bars")
    frame = dataset.simulate(dataset.SYMBOLS, START, END)
    sessions = dataset.sessions(frame)
    pairs_all = list(zip(sessions["symbol"], sessions["trade_date"], strict=True))
    rng = random.Random(7)
    pairs = rng.sample(pairs_all, WARM_READS + WARM_UP)
    cold_pairs = rng.sample(pairs_all, COLD_READS)
    days = sorted(sessions.filter(pl.col("symbol") == "CL")["trade_date"].to_list())
    days = days[-DAILY_COMMITS:]
    results: dict[str, dict[str, Any]] = {}
    with dataset.scratch("lake_s3_") as work, s3_server() as server, postgres_server() as pg:
        for place in ("local", "s3", "s3_shared"):
            env = _env(place, work / place, server, pg)
            os.environ.update({k: v for k, v in env.items() if k.startswith("PG")})
            settings = Settings.from_env(env)
            report.log(f"{place}: bulk write of {frame.height:,} rows")
            lake = settings.lake()
            out: dict[str, Any] = {"bulk": _bulk_write(lake, frame)}
            report.log(f"{place}: {DAILY_COMMITS} one-day commits")
            out["daily"] = _daily_commits(lake, frame, days)
            report.log(f"{place}: point reads")
            location = settings.lake_location
            out["reads"] = _point_reads(lambda loc=location: Lake(loc), pairs, cold_pairs)
            report.log(f"{place}: {WRITERS} writer processes x {APPENDS} appends")
            out["concurrent"] = _concurrent(env)
            results[place] = out
            report.collect()
    _print(results, frame.height)
    report.save("lake_s3", {"rows": frame.height, **results})


def _env(place: str, home: Path, server: S3Server, pg: PostgresServer) -> dict[str, str]:
    if place == "local":
        return {"MARKET_SPINE_HOME": str(home)}
    env = server.lake_env(home, server.bucket(), MARKET_SPINE_LAKE_SSE="AES256")
    if place == "s3":
        return env
    database = pg.create_database("bench_state")
    return {
        **env,
        "MARKET_SPINE_STATE_DATABASE": f"postgresql://{pg.user}@{pg.host}:{pg.port}/{database}"
        "?sslmode=verify-full",
        "MARKET_SPINE_PII_HASH_KEY": "bench-" + "0" * 40,
        "PGPASSWORD": pg.password,
        "PGSSLROOTCERT": str(pg.ca_file),
    }


def _print(results: dict[str, dict[str, Any]], rows: int) -> None:
    places = ("s3_shared", "s3", "local")

    def row(label: str, pick: Any) -> list[Any]:
        return [label, *(pick(results[p]) for p in places)]

    lines = [
        row("bulk write rows/s", lambda r: r["bulk"]["rows_per_s"]),
        row("bulk write MB/s", lambda r: r["bulk"]["mb_per_s"]),
        row("one-day replace commits/s", lambda r: r["daily"]["commits_per_s"]),
    ]
    for kind in ("warm", "cold"):
        for q in ("p50", "p99"):
            lines.append(
                row(f"point read {kind} {q} ms", lambda r, k=kind, q=q: r["reads"][k][f"{q}_ms"])
            )
    lines += [
        row(
            f"{WRITERS} writers x {APPENDS} appends, commits/s",
            lambda r: r["concurrent"]["commits_per_s"],
        ),
        row("commits lost", lambda r: r["concurrent"]["lost"]),
        row("rows duplicated", lambda r: r["concurrent"]["duplicated"]),
    ]
    report.table(
        f"The lake on S3 (moto, loopback) vs the local disk: {rows:,} rows",
        ["figure", "S3, ledger in PostgreSQL", "S3, ledger in the home", "local disk (baseline)"],
        lines,
    )


if __name__ == "__main__":
    main()
