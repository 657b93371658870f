"""Ingest throughput: our normalized write vs a plain Parquet write of the same rows.

Measured (best of 3 each, fresh directory every time):
- ours: `Lake.replace` per symbol of its whole 5-year frame, partitioned by symbol — what a
  backfill of `normalized/futures_bars_1m` does (polars→Arrow conversion, Delta commit included);
- baseline: `pyarrow.parquet.write_table(table, path, compression="zstd")` of the same rows as one
  Arrow table (already converted), pyarrow's defaults otherwise;
- for information: pyarrow with our writer's row-group size (`writer.ROW_GROUP_ROWS`), to show
  what the row-group size costs; a per-day `Lake.replace` loop over one symbol-month into a
  fresh table (the daily-asset path); and re-replacing one day of a symbol in the 5-year lake
  (a rerun of one partition after a backfill).

Target: ours ≥ 0.8 × the pyarrow baseline, in rows/s.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import dataset
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import report

from market_spine.lake import Lake
from market_spine.lake.writer import ROW_GROUP_ROWS

REPEATS = 3
MONTH = ("CL", date(2024, 3, 1), date(2024, 3, 31))
REDO_DAYS = 3
TARGET_RATIO = 0.8


def best_of(run: Callable[[Path], None], repeats: int = REPEATS) -> list[float]:
    """Seconds of `run(fresh_dir)` for each repeat; the directory is removed after each."""
    times = []
    for _ in range(repeats):
        report.collect()
        work = Path(tempfile.mkdtemp(prefix="bench_ingest_", dir=dataset.DATA))
        try:
            ms, _ = report.time_ms(lambda w=work: run(w))
            times.append(ms / 1000)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return times


def per_day_loop(lake: Lake, month: pl.DataFrame) -> int:
    """One `replace` per trading day of the month, as the daily asset commits; returns commits."""
    days = month["trade_date"].unique().sort().to_list()
    for day in days:
        rows = month.filter(pl.col("trade_date") == day)
        dataset.replace_sessions(lake, dataset.DATASET, rows, MONTH[0], day, day)
    return len(days)


def main() -> None:
    """Run every measurement, print the table, save the JSON."""
    report.log("loading the benchmark rows")
    frame = dataset.bars()
    rows = frame.height
    conv_ms, arrow = report.time_ms(lambda: frame.to_arrow(compat_level=pl.CompatLevel.oldest()))
    assert isinstance(arrow, pa.Table)

    report.log(f"ours: Lake.replace per symbol of {rows:,} rows, x{REPEATS}")
    ours = best_of(lambda w: dataset.write_lake(Lake(w / "lake"), frame))
    report.log(f"ours: {[round(t, 2) for t in ours]} s")

    report.log("baseline: pyarrow.parquet.write_table zstd (defaults)")
    base = best_of(lambda w, t=arrow: pq.write_table(t, w / "bars.parquet", compression="zstd"))
    report.log(f"baseline: {[round(t, 2) for t in base]} s")

    report.log(f"info: pyarrow zstd with our row-group size ({ROW_GROUP_ROWS} rows)")
    same = best_of(
        lambda w, t=arrow: pq.write_table(
            t,
            w / "bars.parquet",
            compression="zstd",
            row_group_size=ROW_GROUP_ROWS,
        )
    )
    del arrow
    report.collect()

    symbol, lo, hi = MONTH
    month = frame.filter(
        (pl.col("symbol") == symbol) & pl.col("trade_date").is_between(lo, hi)
    ).rechunk()
    commits = month["trade_date"].n_unique()
    report.log(f"info: per-day loop, {symbol} {lo:%Y-%m}: {commits} commits, {month.height:,} rows")
    daily = best_of(lambda w: per_day_loop(Lake(w / "lake"), month))

    report.log(f"info: re-replace {REDO_DAYS} single days of {symbol} in the 5-year lake")
    redo: list[float] = []
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_", dir=dataset.DATA))
    try:
        lake = Lake(work / "lake")
        dataset.write_lake(lake, frame)
        for day in month["trade_date"].unique().sort().to_list()[:REDO_DAYS]:
            one = month.filter(pl.col("trade_date") == day)
            ms, _ = report.time_ms(
                lambda one=one, day=day: dataset.replace_sessions(
                    lake, dataset.DATASET, one, symbol, day, day
                )
            )
            redo.append(ms / 1000)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ours_rps = rows / min(ours)
    base_rps = rows / min(base)
    ratio = ours_rps / base_rps
    figures = {
        "rows": rows,
        "ours_rows_per_s": round(ours_rps),
        "ours_seconds": ours,
        "pyarrow_rows_per_s": round(base_rps),
        "pyarrow_seconds": base,
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "polars_to_arrow_ms": round(conv_ms, 1),
        "pyarrow_our_settings_rows_per_s": round(rows / min(same)),
        "per_day_rows_per_s": round(month.height / min(daily)),
        "per_day_commits_per_s": round(commits / min(daily), 2),
        "per_day_commits": commits,
        "per_day_rows": month.height,
        "redo_one_day_in_5y_lake_s": redo,
    }
    report.table(
        f"Ingest, {rows:,} normalized rows (best of {REPEATS})",
        ["measurement", "seconds", "rows/s", "vs pyarrow"],
        [
            ["ours: Lake.replace per symbol", min(ours), ours_rps, ratio],
            ["pyarrow write_table zstd", min(base), base_rps, 1.0],
            [
                f"pyarrow zstd, {ROW_GROUP_ROWS}-row groups (info)",
                min(same),
                rows / min(same),
                rows / min(same) / base_rps,
            ],
            [
                f"per-day replace loop, {symbol} {lo:%Y-%m} (info)",
                min(daily),
                month.height / min(daily),
                month.height / min(daily) / base_rps,
            ],
            [
                f"replace 1 day of {symbol} in 5-year lake (info, median)",
                report.percentile(redo, 50),
                month.height / commits / report.percentile(redo, 50),
                float("nan"),
            ],
        ],
    )
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(f"ours / pyarrow = {ratio:.2f}x (target >= {TARGET_RATIO}x): {verdict}")
    print(f"per-day loop: {commits / min(daily):.1f} commits/s; conversion {conv_ms:.0f} ms")
    report.save("ingest", figures)


if __name__ == "__main__":
    main()
