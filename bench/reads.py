"""Shared read measurements: warm and cold `Spine.bars` point reads, `scan_delta` point reads,
and a cProfile of warm reads that names the functions the time goes to."""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import report

from market_spine.client import Spine
from market_spine.lake import lake_at
from market_spine.lake.integrity import ledger_at
from market_spine.settings import Settings

Pair = tuple[str, date]


def timed(calls: list[Callable[[], Any]]) -> tuple[list[float], list[Any]]:
    """Latency of each call in ms, and the results (kept to check them afterwards)."""
    samples, results = [], []
    for call in calls:
        ms, out = report.time_ms(call)
        samples.append(ms)
        results.append(out)
    return samples, results


def fresh_spine(settings: Settings) -> Spine:
    """A Spine with empty process-level caches: a new Lake, so its snapshot index is rebuilt,
    and a new integrity ledger, so each file's SHA-256 is checked again on first sight."""
    lake_at.cache_clear()
    ledger_at.cache_clear()
    return Spine(settings=settings)


def check_rows(pairs: list[Pair], frames: list[pl.DataFrame], expected: dict[Pair, int]) -> None:
    """Every read returned the whole session (guards against timing an empty or partial read)."""
    bad = [p for p, f in zip(pairs, frames, strict=True) if f.height != expected[p]]
    assert not bad, f"wrong row counts for {bad[:3]}"


def warm_reads(
    spine: Spine, warmup: list[Pair], pairs: list[Pair], expected: dict[Pair, int]
) -> dict[str, float]:
    """`Spine.bars(sym, day)` latency after one warm-up pass over different pairs."""
    for sym, day in warmup:
        spine.bars(sym, day)
    samples, frames = timed([lambda s=s, d=d: spine.bars(s, d) for s, d in pairs])
    check_rows(pairs, frames, expected)
    return report.latency(samples)


def cold_reads(
    settings: Settings, pairs: list[Pair], expected: dict[Pair, int]
) -> dict[str, float]:
    """`Spine.bars(sym, day)` latency with a fresh Spine/Lake each time (caches empty)."""
    samples, frames = timed([lambda s=s, d=d: fresh_spine(settings).bars(s, d) for s, d in pairs])
    check_rows(pairs, frames, expected)
    return report.latency(samples)


def scan_delta_reads(
    path: str, warmup: list[Pair], pairs: list[Pair], expected: dict[Pair, int]
) -> dict[str, float]:
    """Baseline: `pl.scan_delta(path).filter(symbol, trade_date).collect()` for the same pairs."""

    def scan(sym: str, day: date) -> pl.DataFrame:
        return (
            pl.scan_delta(path)
            .filter((pl.col("symbol") == sym) & (pl.col("trade_date") == day))
            .collect()
        )

    for sym, day in warmup:
        scan(sym, day)
    samples, frames = timed([lambda s=s, d=d: scan(s, d) for s, d in pairs])
    check_rows(pairs, frames, expected)
    return report.latency(samples)


def profile(
    call: Callable[[], Any], reads: int, top: int = 8, unit: str = "read"
) -> list[dict[str, Any]]:
    """cProfile of `call` (which makes `reads` reads or commits): top functions by own time,
    in ms per read (or per `unit`)."""
    prof = cProfile.Profile()
    prof.enable()
    call()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    ranked = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in ranked:
        rows.append(
            {
                "function": f"{Path(file).name}:{line}({func})",
                "calls": ncalls,
                "own_ms_per_call": round(tottime * 1000 / reads, 3),
                "cum_ms_per_call": round(cumtime * 1000 / reads, 3),
            }
        )
    report.table(
        f"cProfile, top {top} by own time, ms per {unit} ({reads} {unit}s)",
        ["function", "calls", "own ms", "cum ms"],
        [[r["function"], r["calls"], r["own_ms_per_call"], r["cum_ms_per_call"]] for r in rows],
    )
    return rows
