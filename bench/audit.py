"""What the audit trail costs: entries/s appended, `audit verify` over a week of 1 M entries,
and exporting that week as CSV, JSON lines and Parquet; and how much a point read pays for
being recorded.

- write: 1 M entries (a week's worth: timestamps spread over seven days, actors, datasets and
  parameters like the API's) appended in the recorder's batches of 10,000 to a fresh home's
  SQLite store. Baseline in the same run: the same entries written as plain JSON lines (no
  chain, no index, no transaction).
- verify: `verify(home)` over the 1 M entries (every hash recomputed). Baseline: reading the
  JSON lines back and parsing each.
- export: `market-spine audit export --since 7d` in process for each format. Target ≤ 10 s.
- record: the cost of `record(...)` on the caller's thread (µs per call), beside a no-op call.
- point reads: `Spine.bars(sym, day)` warm p50/p99 on a month of CL/ES/NG, each read audited
  (as shipped) and with the audit hook a no-op (the read before the trail existed), rounds
  alternating. Target: audit costs ≤ 3 % on the warm p50.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dataset
import polars as pl
import report
from reads import warm_reads

import market_spine.client as client_module
from market_spine.audit.entry import Entry
from market_spine.audit.export import AuditFilter, export, since_instant
from market_spine.audit.recorder import Recorder
from market_spine.audit.store import AuditStore
from market_spine.audit.verify import verify

N = 1_000_000
READ_ROUNDS, N_READS = 4, 300
TARGET_READ_COST = 0.03
BATCH = 10_000
TARGET_EXPORT_S = 10.0
ACTORS = [f"key:{i:04x}" for i in range(40)] + ["alice", "bob", "anonymous"]
DATASETS = ["futures_bars_1m", "futures_bars_daily", "spx_option_chain", "spx_option_quotes", ""]


def week_of_entries(n: int, now: datetime, seed: int = 3) -> list[Entry]:
    """`n` entries spread evenly over the seven days before `now`, in time order."""
    rng = random.Random(seed)
    start = now - timedelta(days=7) + timedelta(minutes=1)
    step = timedelta(days=7) / n * 0.999
    entries = []
    for i in range(n):
        at = (start + step * i).isoformat(timespec="microseconds")
        symbol = rng.choice(("CL", "ES", "NG"))
        entries.append(
            Entry(
                at,
                rng.choice(ACTORS),
                "http.get",
                rng.choice(DATASETS),
                {"path": "/v1/bars", "query": {"symbol": symbol, "start": "2024-03-04"}},
                "200",
            )
        )
    return entries


def measure(work: Path) -> dict[str, Any]:
    now = datetime.now(UTC)
    entries = week_of_entries(N, now)
    home = work / "home"
    started = time.perf_counter()
    store = AuditStore(home)
    for i in range(0, N, BATCH):
        store.append(entries[i : i + BATCH])
    store.close()
    ours_write = time.perf_counter() - started

    lines = work / "plain.jsonl"
    started = time.perf_counter()
    with lines.open("w", encoding="utf-8") as out:
        for i in range(0, N, BATCH):
            out.write(
                "".join(
                    json.dumps(vars(e), separators=(",", ":")) + "\n"
                    for e in entries[i : i + BATCH]
                )
            )
    plain_write = time.perf_counter() - started

    started, cpu = time.perf_counter(), time.process_time()
    checked = verify(home)
    verify_s = time.perf_counter() - started
    verify_cpu_s = time.process_time() - cpu
    assert checked.intact and checked.entries == N, checked.problems

    started = time.perf_counter()
    with lines.open(encoding="utf-8") as stream:
        parsed = sum(1 for line in stream if json.loads(line))
    plain_read = time.perf_counter() - started
    assert parsed == N

    since = AuditFilter(since=since_instant("7d", now))
    exports = {}
    for fmt in ("csv", "jsonl", "parquet"):
        started, cpu = time.perf_counter(), time.process_time()
        count = export(home, since, fmt, work / f"week.{fmt}")
        exports[fmt] = time.perf_counter() - started
        exports[f"{fmt}_cpu"] = time.process_time() - cpu
        assert count == N, (fmt, count)

    recorder = Recorder(home)
    calls = 100_000
    started = time.perf_counter()
    for _ in range(calls):
        recorder.record("alice", "spine.bars", "futures_bars_1m", {"symbol": "CL"})
    record_us = (time.perf_counter() - started) / calls * 1e6
    recorder.flush()

    def noop(*_: Any) -> None:
        return None

    started = time.perf_counter()
    for _ in range(calls):
        noop("alice", "spine.bars", "futures_bars_1m", {"symbol": "CL"})
    noop_us = (time.perf_counter() - started) / calls * 1e6

    size_mb = sum(p.stat().st_size for p in (home / "audit").iterdir()) / 1e6
    return {
        "entries": N,
        "write_entries_per_s": N / ours_write,
        "baseline_jsonl_write_entries_per_s": N / plain_write,
        "verify_s": verify_s,
        "verify_cpu_s": verify_cpu_s,
        "baseline_jsonl_read_parse_s": plain_read,
        "export_s": exports,
        "export_target_s": TARGET_EXPORT_S,
        "record_call_us": record_us,
        "baseline_noop_call_us": noop_us,
        "store_mb": size_mb,
        "baseline_jsonl_mb": lines.stat().st_size / 1e6,
    }


def point_reads(work: Path) -> dict[str, Any]:
    """Warm `Spine.bars` p50/p99 with the audit hook as shipped and as a no-op, alternating."""
    from datetime import date

    frame = dataset.simulate(start=date(2024, 3, 1), end=date(2024, 3, 31))
    settings = dataset.build_lake(work / "reads", frame)
    pairs = sorted({(s, d) for s, d in frame.select("symbol", "trade_date").unique().iter_rows()})
    expected = {
        (s, d): n for s, d, n in frame.group_by("symbol", "trade_date").agg(pl.len()).iter_rows()
    }
    rng = random.Random(5)
    shipped = client_module.audit_read
    figures: dict[str, list[dict[str, float]]] = {"audited": [], "unaudited": []}
    spine = client_module.Spine(settings=settings, warn_empty=False)
    for _ in range(READ_ROUNDS):
        for mode in ("audited", "unaudited"):
            client_module.audit_read = shipped if mode == "audited" else (lambda *a: None)
            chosen = [rng.choice(pairs) for _ in range(N_READS)]
            figures[mode].append(warm_reads(spine, pairs[:20], chosen, expected))
    client_module.audit_read = shipped
    from market_spine.audit.recorder import flush_all

    flush_all()

    def median(mode: str, key: str) -> float:
        values = sorted(r[key] for r in figures[mode])
        return values[len(values) // 2]

    return {
        "read_p50_ms": median("audited", "p50_ms"),
        "read_p99_ms": median("audited", "p99_ms"),
        "baseline_read_p50_ms": median("unaudited", "p50_ms"),
        "baseline_read_p99_ms": median("unaudited", "p99_ms"),
        "read_cost_target": TARGET_READ_COST,
    }


def main() -> None:
    root = Path(__file__).resolve().parent / ".data"
    root.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="audit-", dir=root))
    try:
        figures = measure(work)
        figures |= point_reads(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        report.table(
            "audit trail, 1 M entries over a week",
            ["measure (wall unless CPU)", "ours", "baseline (plain JSON lines)"],
            [
                [
                    "write (entries/s)",
                    figures["write_entries_per_s"],
                    figures["baseline_jsonl_write_entries_per_s"],
                ],
                [
                    "verify / read back (s)",
                    figures["verify_s"],
                    figures["baseline_jsonl_read_parse_s"],
                ],
                ["verify CPU (s)", figures["verify_cpu_s"], ""],
                ["size (MB)", figures["store_mb"], figures["baseline_jsonl_mb"]],
                [
                    "record() on the caller (µs)",
                    figures["record_call_us"],
                    figures["baseline_noop_call_us"],
                ],
                [
                    "Spine.bars warm p50 (ms)",
                    figures["read_p50_ms"],
                    figures["baseline_read_p50_ms"],
                ],
                [
                    "Spine.bars warm p99 (ms)",
                    figures["read_p99_ms"],
                    figures["baseline_read_p99_ms"],
                ],
                *[
                    [f"export --since 7d {fmt} (s)", s, f"target ≤ {TARGET_EXPORT_S:g}"]
                    for fmt, s in figures["export_s"].items()
                ],
            ],
        )
    )
    report.save("audit", figures)


if __name__ == "__main__":
    main()
