"""Shared helpers of the benchmarks: timing, percentiles, peak memory, tables and JSON results.

Every script measures ours and its baseline in the same process and run, prints them side by side
with `table`, and saves the same figures with `save` to `bench/results/<name>.json` (read back by
`run_all.py` for the summary).
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


def now_ms() -> float:
    """A monotonic clock in milliseconds (perf_counter_ns based)."""
    return time.perf_counter_ns() / 1e6


def time_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call in milliseconds, and its result."""
    t0 = time.perf_counter_ns()
    out = fn()
    return (time.perf_counter_ns() - t0) / 1e6, out


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, like numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / mean / max of latency samples, in ms."""
    return {
        "n": len(samples_ms),
        "p50_ms": round(percentile(samples_ms, 50), 3),
        "p99_ms": round(percentile(samples_ms, 99), 3),
        "mean_ms": round(statistics.fmean(samples_ms), 3),
        "max_ms": round(max(samples_ms), 3),
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def collect() -> None:
    """Full garbage collection between phases so one phase's garbage does not bill the next."""
    gc.collect()


def fmt(value: Any) -> str:
    """Numbers with a sensible number of digits; everything else as str."""
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def table(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table: numbers right-aligned, text left-aligned; printed and returned."""
    body = [list(row) for row in rows]
    cells = [[str(h) for h in header]] + [[fmt(v) for v in row] for row in body]
    numeric = [
        all(isinstance(r[i], int | float) or r[i] is None for r in body) for i in range(len(header))
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title, "-" * len(title)]
    for n, row in enumerate(cells):
        parts = []
        for i, (c, w) in enumerate(zip(row, widths, strict=True)):
            is_num = numeric[i] or (n > 0 and isinstance(body[n - 1][i], int | float))
            parts.append(c.rjust(w) if is_num and n > 0 else c.ljust(w))
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text, flush=True)
    print(flush=True)
    return text


def save(name: str, figures: dict[str, Any]) -> Path:
    """Write `figures` (plus machine and time) to bench/results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": _cpus(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "load_average_at_start": LOAD_AT_START,
        "peak_rss_mib": peak_rss_mib(),
        **figures,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"results written to {path.relative_to(BENCH.parent)}", flush=True)
    return path


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


_STARTED = time.perf_counter()
#: Load average when the script started: other work on the machine makes figures noisy.
LOAD_AT_START = [round(x, 2) for x in os.getloadavg()]


def log(message: str) -> None:
    """A progress line with the wall time since start, flushed at once (subprocess-friendly)."""
    print(f"[{time.perf_counter() - _STARTED:7.1f}s] {message}", flush=True)
