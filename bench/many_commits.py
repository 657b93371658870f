"""Many small commits: 1,300 daily `Lake.replace` commits of one symbol, then read latency.

This is the table shape the daily asset produces over ~5 years (one file and one log entry per
trading day). Measured:
- commits/s of the 1,300 one-day replacements (overall, and the first vs the last 100, to show
  whether a growing log slows each commit);
- `Spine.bars(sym, day)` p50/p99 warm (200 random days after a warm-up over 200 others) and cold
  (fresh Lake/Spine, footer cache cleared; 30 days), with `polars.scan_delta` as the same-run
  baseline — all before and after `maintain()` (compaction, checkpoint, vacuum at 0 h);
- data files and log length before and after;
- a cProfile of 20 more one-day replacements on the 1,300-file table, naming where a commit's
  time goes.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import dataset
import polars as pl
import report
from reads import Pair, cold_reads, fresh_spine, profile, scan_delta_reads, warm_reads

from market_spine.catalog.vocabulary import conform
from market_spine.futures.schemas import NORMALIZED_BARS
from market_spine.lake import Lake, lake_at
from market_spine.lake.maintenance import maintain
from market_spine.markets.calendars import trading_days
from market_spine.providers.simulated import SimulatedMarket
from market_spine.settings import Settings

SYMBOL = "CL"
COMMITS = 1300
SEED = 43
N_WARMUP, N_WARM, N_COLD, N_SCAN = 200, 200, 30, 30
BLOCK = 100
N_PROFILE = 20


def daily_rows(frame: pl.DataFrame) -> list[tuple[date, pl.DataFrame]]:
    """COMMITS sessions of SYMBOL, newest last: the cached 5 years plus the few days before them."""
    mine = frame.filter(pl.col("symbol") == SYMBOL)
    days = mine["trade_date"].unique().sort().to_list()
    missing = COMMITS - len(days)
    extra: list[pl.DataFrame] = []
    if missing > 0:
        earlier = trading_days(SYMBOL, date(dataset.START.year - 1, 1, 1), dataset.START)
        market = SimulatedMarket(seed=dataset.SEED)
        for day in [d for d in earlier if d < dataset.START][-missing:]:
            bars = market.bars(SYMBOL, day)
            extra.append(
                bars.with_columns(trade_date=pl.lit(day), capture_id=pl.lit(dataset.CAPTURE_ID))
            )
    if extra:
        mine = pl.concat([conform(pl.concat(extra), NORMALIZED_BARS), mine])
    parts = mine.partition_by("trade_date", as_dict=True, maintain_order=True)
    return sorted(((key[0], part) for key, part in parts.items()), key=lambda kv: kv[0])[-COMMITS:]


def commit_all(lake: Lake, days: list[tuple[date, pl.DataFrame]]) -> list[float]:
    """One `replace` per day, as the daily asset writes; returns each commit's ms."""
    samples = []
    for day, rows in days:
        ms, _ = report.time_ms(
            lambda day=day, rows=rows: dataset.replace_sessions(
                lake, dataset.DATASET, rows, SYMBOL, day, day, {"capture_id": dataset.CAPTURE_ID}
            )
        )
        samples.append(ms)
        if len(samples) % 250 == 0:
            report.log(f"  {len(samples)} commits, last {BLOCK}: {block_rate(samples[-BLOCK:])}/s")
    return samples


def block_rate(samples: list[float]) -> float:
    """Commits per second over a block of commit latencies (ms)."""
    return round(len(samples) / (sum(samples) / 1000), 1)


def measure(
    settings: Settings,
    warmup: list[Pair],
    warm: list[Pair],
    cold: list[Pair],
    expected: dict[Pair, int],
) -> dict[str, Any]:
    """Lake shape, warm and cold point reads, and the scan_delta baseline."""
    spine = fresh_spine(settings)
    out: dict[str, Any] = {"lake": dataset.lake_stats(spine.lake)}
    report.log(f"lake: {out['lake']}")
    out["cold"] = cold_reads(settings, cold, expected)
    report.log(f"cold: {out['cold']}")
    spine = fresh_spine(settings)
    out["warm"] = warm_reads(spine, warmup, warm, expected)
    report.log(f"warm: {out['warm']}")
    out["profile"] = profile(lambda: [spine.bars(s, d) for s, d in warm], len(warm), top=6)
    path = str(spine.lake.path(dataset.DATASET))
    out["scan_delta"] = scan_delta_reads(path, warmup[:5], warm[:N_SCAN], expected)
    report.log(f"scan_delta: {out['scan_delta']}")
    return out


def main() -> None:
    """Commit, measure, maintain, measure again; print and save."""
    report.log("loading the benchmark rows")
    frame = dataset.bars()
    days = daily_rows(frame)
    del frame
    report.collect()
    expected = {(SYMBOL, d): rows.height for d, rows in days}
    pairs = random.Random(SEED).sample(sorted(expected), N_WARMUP + N_WARM + N_COLD)
    warmup, warm, cold = pairs[:N_WARMUP], pairs[N_WARMUP:-N_COLD], pairs[-N_COLD:]

    work = Path(tempfile.mkdtemp(prefix="bench_many_commits_", dir=dataset.DATA))
    try:
        settings = dataset.settings_for(work / "home")
        lake = Lake(settings.lake_root)
        rows = sum(r.height for _, r in days)
        report.log(f"{len(days)} daily commits of {SYMBOL} ({days[0][0]}..{days[-1][0]})")
        commit_ms = commit_all(lake, days)
        total_s = sum(commit_ms) / 1000
        report.log(f"{len(days)} commits in {total_s:.1f} s")
        report.log(f"cProfile of {N_PROFILE} more one-day replacements at {len(days)} files")
        commit_profile = profile(
            lambda: commit_all(lake, days[-N_PROFILE:]), N_PROFILE, top=8, unit="commit"
        )
        report.collect()

        report.log("=== before maintain ===")
        before = measure(settings, warmup, warm, cold, expected)
        report.collect()
        report.log("maintain(): compact, checkpoint, vacuum (retention 0 h)")
        ms, maint = report.time_ms(
            lambda: maintain(lake_at(str(settings.lake_root)), dataset.DATASET, retention_hours=0)
        )
        report.log(f"maintain took {ms / 1000:.1f} s: {maint}")
        report.collect()
        report.log("=== after maintain ===")
        after = measure(settings, warmup, warm, cold, expected)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    figures = {
        "symbol": SYMBOL,
        "commits": len(days),
        "rows": rows,
        "commit_seconds": round(total_s, 2),
        "commits_per_s": block_rate(commit_ms),
        "commits_per_s_first_100": block_rate(commit_ms[:BLOCK]),
        "commits_per_s_last_100": block_rate(commit_ms[-BLOCK:]),
        "commit_latency": report.latency(commit_ms),
        "maintain_seconds": round(ms / 1000, 2),
        "commit_profile": commit_profile,
        "before_maintain": before,
        "after_maintain": after,
    }
    print_results(figures)
    report.save("many_commits", figures)


def print_results(f: dict[str, Any]) -> None:
    """The commit rate, then reads and table shape before and after maintain, side by side."""
    report.table(
        f"{f['commits']:,} daily commits of {f['symbol']} ({f['rows']:,} rows)",
        ["measurement", "value"],
        [
            ["total seconds", f["commit_seconds"]],
            ["commits/s, overall", f["commits_per_s"]],
            [f"commits/s, first {BLOCK}", f["commits_per_s_first_100"]],
            [f"commits/s, last {BLOCK}", f["commits_per_s_last_100"]],
            ["commit p50 ms", f["commit_latency"]["p50_ms"]],
            ["commit p99 ms", f["commit_latency"]["p99_ms"]],
            ["maintain() seconds", f["maintain_seconds"]],
        ],
    )
    b, a = f["before_maintain"], f["after_maintain"]
    report.table(
        "Point reads (ms) and table shape, before vs after maintain()",
        ["measurement", "before", "after", "target"],
        [
            ["Spine.bars warm p50", b["warm"]["p50_ms"], a["warm"]["p50_ms"], "≤ 3"],
            ["Spine.bars warm p99", b["warm"]["p99_ms"], a["warm"]["p99_ms"], "≤ 8"],
            ["Spine.bars cold p50", b["cold"]["p50_ms"], a["cold"]["p50_ms"], ""],
            ["Spine.bars cold p99", b["cold"]["p99_ms"], a["cold"]["p99_ms"], ""],
            ["baseline scan_delta p50", b["scan_delta"]["p50_ms"], a["scan_delta"]["p50_ms"], ""],
            ["baseline scan_delta p99", b["scan_delta"]["p99_ms"], a["scan_delta"]["p99_ms"], ""],
            ["data files (current version)", b["lake"]["files"], a["lake"]["files"], ""],
            ["data files on disk", b["lake"]["files_on_disk"], a["lake"]["files_on_disk"], ""],
            ["log json entries", b["lake"]["log_json"], a["lake"]["log_json"], ""],
            ["checkpoints", b["lake"]["checkpoints"], a["lake"]["checkpoints"], ""],
            ["table version", b["lake"]["version"], a["lake"]["version"], ""],
        ],
    )


if __name__ == "__main__":
    main()
