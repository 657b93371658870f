"""Read latency on the 5-year lake: point reads, cold table opens, months and a year aggregate.

On a fresh home holding `dataset.bars()` (≈5.3 M rows, written per symbol as a backfill does):
- (a) one symbol, one day via `Spine.bars(sym, day)`: p50/p99 over 200 random (symbol, trading
  day) pairs, warm — after one warm-up pass over 200 *different* pairs;
- (b) table open cold: a fresh `Spine`/`Lake` every read (`lake_at` cache and the reader's
  Parquet footer cache cleared, so the snapshot is rebuilt) — p50/p99 over 30 reads. The OS page
  cache stays warm: this is the cost of our process-level caches being empty, not of the disk;
- (c) one symbol-month via `Spine.bars`: p50 over 30 random months;
- (d) all symbols, one year aggregated to daily OHLC, via `Spine.sql` over `futures_bars_1m`
  (DuckDB) and via polars on `Spine.bars` frames: p50 over 10 runs (target ≤ 60 ms).

Baselines in the same run, for the same pairs: plain `polars.scan_delta(path).filter(symbol,
trade_date).collect()`, and ArcticDB on LMDB (one symbol per root, indexed by ts, read with
`date_range=` the session's [open, close), polars output so both sides build the same frame).

Everything runs before and after `maintain()` (compaction, checkpoint, vacuum). A cProfile of
the 200 warm reads is printed for each state, so a missed target names the function behind it.
Targets: warm p50 ≤ 3 ms, p99 ≤ 8 ms; ours / ArcticDB ≤ 1.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import arcticdb
import dataset
import polars as pl
import report
from reads import (
    Pair,
    check_rows,
    cold_reads,
    fresh_spine,
    profile,
    scan_delta_reads,
    timed,
    warm_reads,
)

from market_spine.lake import lake_at
from market_spine.lake.maintenance import maintain
from market_spine.markets import calendars
from market_spine.settings import Settings

SEED = 42
N_WARMUP = 200
N_WARM = 200
N_COLD = 30
N_MONTHS = 30
N_AGG = 10
YEAR = (date(2023, 1, 1), date(2023, 12, 31))
TARGETS = {"warm_p50_ms": 3.0, "warm_p99_ms": 8.0, "year_agg_p50_ms": 60.0, "vs_arcticdb": 1.0}
OHLC_SQL = f"""
select symbol, trade_date, arg_min(open, ts) as open, max(high) as high, min(low) as low,
       arg_max(close, ts) as close, sum(volume) as volume
from futures_bars_1m
where trade_date between DATE '{YEAR[0]}' and DATE '{YEAR[1]}'
group by symbol, trade_date order by symbol, trade_date
"""
DAILY_SQL = f"""
select symbol, trade_date, open, high, low, close, volume from futures_bars_daily
where trade_date between DATE '{YEAR[0]}' and DATE '{YEAR[1]}' order by symbol, trade_date
"""
OHLC_COLUMNS = ["symbol", "trade_date", "ts", "open", "high", "low", "close", "volume"]


def daily_ohlc(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Minute bars → one OHLCV row per symbol and trade date (what the SQL computes)."""
    return (
        frame.lazy()
        .group_by("symbol", "trade_date")
        .agg(
            open=pl.col("open").sort_by("ts").first(),
            high=pl.col("high").max(),
            low=pl.col("low").min(),
            close=pl.col("close").sort_by("ts").last(),
            volume=pl.col("volume").sum(),
        )
        .sort("symbol", "trade_date")
        .collect()
    )


def measure_lake(
    settings: Settings,
    warmup: list[Pair],
    warm: list[Pair],
    cold: list[Pair],
    months: list[tuple[str, date, date]],
    expected_rows: dict[Pair, int],
) -> dict[str, Any]:
    """Every read measurement on the lake as it is now."""
    out: dict[str, Any] = {}
    spine = fresh_spine(settings)
    stats = dataset.lake_stats(spine.lake)
    out["lake"] = stats
    report.log(f"lake: {stats}")

    out["warm"] = warm_reads(spine, warmup, warm, expected_rows)
    report.log(f"(a) Spine.bars warm: {out['warm']}")
    out["cold"] = cold_reads(settings, cold, expected_rows)
    report.log(f"(b) Spine.bars cold: {out['cold']}")

    spine = fresh_spine(settings)
    for sym, day in warmup[:50]:
        spine.bars(sym, day)
    samples, _ = timed([lambda s=s, a=a, b=b: spine.bars(s, a, b) for s, a, b in months])
    out["month"] = report.latency(samples)
    report.log(f"(c) Spine.bars month: {out['month']}")

    path = str(spine.lake.path(dataset.DATASET))
    out["scan_delta"] = scan_delta_reads(path, warmup[:20], warm, expected_rows)
    report.log(f"baseline polars.scan_delta: {out['scan_delta']}")

    spine.sql(OHLC_SQL)  # registers the views once
    samples, results = timed([lambda: spine.sql(OHLC_SQL)] * N_AGG)
    out["year_sql"] = report.latency(samples)
    sql_result = results[-1]

    def via_bars() -> pl.DataFrame:
        return daily_ohlc(
            pl.concat([spine.bars(s, *YEAR, columns=OHLC_COLUMNS) for s in dataset.SYMBOLS])
        )

    via_bars()
    samples, results = timed([via_bars] * N_AGG)
    out["year_polars"] = report.latency(samples)
    assert results[-1].height == sql_result.height, "SQL and polars daily OHLC disagree"
    assert results[-1].select("high", "close").equals(sql_result.select("high", "close"))

    def via_scan() -> pl.DataFrame:
        return daily_ohlc(
            pl.scan_delta(path).filter(pl.col("trade_date").is_between(*YEAR)).select(OHLC_COLUMNS)
        )

    via_scan()
    samples, _ = timed([via_scan] * N_AGG)
    out["year_scan_delta"] = report.latency(samples)
    report.log(
        f"(d) year OHLC p50: sql {out['year_sql']['p50_ms']} ms, polars on Spine.bars "
        f"{out['year_polars']['p50_ms']} ms, scan_delta {out['year_scan_delta']['p50_ms']} ms "
        f"({sql_result.height} daily rows)"
    )

    # The platform's answer to "a year of daily OHLC": the daily asset already holds it.
    def via_daily() -> pl.DataFrame:
        return pl.concat([spine.daily(s, *YEAR) for s in dataset.SYMBOLS])

    via_daily()
    samples, results = timed([via_daily] * N_AGG)
    out["year_daily_table"] = report.latency(samples)
    assert results[-1].height == sql_result.height, "the daily table and the minutes disagree"
    samples, _ = timed([lambda: spine.sql(DAILY_SQL)] * N_AGG)
    out["year_daily_sql"] = report.latency(samples)

    out["profile"] = profile(lambda: [spine.bars(s, d) for s, d in warm], len(warm))
    out["profile_year_polars"] = profile(via_bars, 3, top=5, unit="symbol-year read")
    return out


def arctic_write(root: Path, frame: pl.DataFrame) -> arcticdb.library.Library:
    """One ArcticDB symbol per root on LMDB, the same rows indexed by ts."""
    ac = arcticdb.Arctic(f"lmdb://{root}")
    lib = ac.get_library("bars", create_if_missing=True)
    for sym in dataset.SYMBOLS:
        pdf = (
            frame.filter(pl.col("symbol") == sym)
            .with_columns(pl.col("trade_date").cast(pl.Datetime("ns")))
            .to_pandas()
            .set_index("ts")
        )
        lib.write(sym, pdf)
        del pdf
        report.collect()
    return lib


def arctic_measure(
    root: Path, warmup: list[Pair], warm: list[Pair], cold: list[Pair], expected: dict[Pair, int]
) -> dict[str, Any]:
    """ArcticDB point reads of whole sessions by date_range, warm and with a fresh Arctic."""

    def window(sym: str, day: date) -> tuple[Any, Any]:
        sess = calendars.session(sym, day)
        assert sess is not None
        return sess.open, sess.close - timedelta(microseconds=1)

    windows = {p: window(*p) for p in warmup + warm + cold}
    lib = arcticdb.Arctic(f"lmdb://{root}").get_library("bars")

    def read(lib: Any, pair: Pair) -> pl.DataFrame:
        return lib.read(pair[0], date_range=windows[pair], output_format="POLARS").data

    for pair in warmup:
        read(lib, pair)
    samples, frames = timed([lambda p=p, lib=lib: read(lib, p) for p in warm])
    check_rows(warm, frames, expected)
    out = {"warm": report.latency(samples)}
    del lib
    samples = []
    for pair in cold:
        ms, _ = report.time_ms(
            lambda p=pair: read(arcticdb.Arctic(f"lmdb://{root}").get_library("bars"), p)
        )
        samples.append(ms)
    out["cold"] = report.latency(samples)
    report.log(f"ArcticDB LMDB: warm {out['warm']}, cold {out['cold']}")
    return out


def sample_pairs(sessions: pl.DataFrame) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Disjoint random (symbol, day) pairs: warm-up, warm measurement, cold measurement."""
    pairs = [(s, d) for s, d in sessions.select("symbol", "trade_date").iter_rows()]
    picked = random.Random(SEED).sample(pairs, N_WARMUP + N_WARM + N_COLD)
    return picked[:N_WARMUP], picked[N_WARMUP : N_WARMUP + N_WARM], picked[N_WARMUP + N_WARM :]


def sample_months(sessions: pl.DataFrame) -> list[tuple[str, date, date]]:
    """Random whole calendar months of one symbol, as (symbol, first day, last day)."""
    months = (
        sessions.group_by("symbol", pl.col("trade_date").dt.truncate("1mo").alias("month"))
        .agg(lo=pl.col("trade_date").min(), hi=pl.col("trade_date").max())
        .sort("symbol", "month")
    )
    rows = [(s, lo, hi) for s, _, lo, hi in months.iter_rows()]
    return random.Random(SEED + 1).sample(rows, N_MONTHS)


def ratio(ours: float, theirs: float) -> float:
    """ours / theirs, rounded."""
    return round(ours / theirs, 2)


def main() -> None:
    """Build the lake and ArcticDB, measure before and after maintain, print and save."""
    report.log("loading the benchmark rows")
    frame = dataset.bars()
    sessions = dataset.sessions(frame)
    expected = {(s, d): n for s, d, n, _, _ in sessions.iter_rows()}
    warmup, warm, cold = sample_pairs(sessions)
    months = sample_months(sessions)

    work = Path(tempfile.mkdtemp(prefix="bench_point_read_", dir=dataset.DATA))
    try:
        report.log(f"writing the 5-year lake ({frame.height:,} rows)")
        settings = dataset.build_lake(work / "home", frame, daily=True)
        report.log("writing ArcticDB (LMDB), one symbol per root")
        arctic_write(work / "arctic", frame)
        del frame
        report.collect()

        arctic = arctic_measure(work / "arctic", warmup, warm, cold, expected)
        report.collect()
        report.log("=== before maintain (as the bulk write left it) ===")
        before = measure_lake(settings, warmup, warm, cold, months, expected)
        report.collect()

        report.log("maintain(): compact, checkpoint, vacuum (retention 0 h)")
        lake = lake_at(str(settings.lake_root))
        ms, maint = report.time_ms(lambda: maintain(lake, dataset.DATASET, retention_hours=0))
        report.log(f"maintain took {ms / 1000:.1f} s: {maint}")
        report.collect()
        report.log("=== after maintain ===")
        after = measure_lake(settings, warmup, warm, cold, months, expected)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print_results(before, after, arctic)
    figures = {
        "targets": TARGETS,
        "pairs": {"warmup": N_WARMUP, "warm": N_WARM, "cold": N_COLD, "months": N_MONTHS},
        "before_maintain": before,
        "after_maintain": after,
        "maintain_seconds": round(ms / 1000, 2),
        "arcticdb": arctic,
        "ratio_vs_arcticdb": {
            state: {
                "p50": ratio(res["warm"]["p50_ms"], arctic["warm"]["p50_ms"]),
                "p99": ratio(res["warm"]["p99_ms"], arctic["warm"]["p99_ms"]),
                "cold_p50": ratio(res["cold"]["p50_ms"], arctic["cold"]["p50_ms"]),
            }
            for state, res in (("before_maintain", before), ("after_maintain", after))
        },
    }
    report.save("point_read", figures)


def print_results(before: dict[str, Any], after: dict[str, Any], arctic: dict[str, Any]) -> None:
    """One side-by-side table: each measurement before and after maintain, with its target."""

    def row(name: str, key: str, src_b: dict, src_a: dict, target: str = "") -> list[Any]:
        b, a = src_b[key], src_a[key]
        return [name, b["p50_ms"], b["p99_ms"], a["p50_ms"], a["p99_ms"], target]

    report.table(
        "Read latency, ms (5-year lake, 3 symbols; p99 of small samples ≈ their max)",
        ["measurement", "before p50", "before p99", "after p50", "after p99", "target"],
        [
            row("(a) Spine.bars 1 day, warm", "warm", before, after, "p50≤3 p99≤8"),
            row("(b) Spine.bars 1 day, cold open", "cold", before, after),
            row("(c) Spine.bars 1 symbol-month", "month", before, after),
            row("(d) year → daily OHLC, Spine.sql", "year_sql", before, after, "p50≤60"),
            row("(d) year → daily OHLC, polars/Spine.bars", "year_polars", before, after, "p50≤60"),
            row(
                "(d) year daily OHLC, Spine.daily (asset)",
                "year_daily_table",
                before,
                after,
                "p50≤60",
            ),
            row(
                "(d) year daily OHLC, SQL on daily table", "year_daily_sql", before, after, "p50≤60"
            ),
            row("baseline: polars.scan_delta 1 day", "scan_delta", before, after),
            row("baseline: scan_delta year OHLC", "year_scan_delta", before, after),
            row("baseline: ArcticDB LMDB 1 day, warm", "warm", arctic, arctic),
            row("baseline: ArcticDB LMDB 1 day, cold", "cold", arctic, arctic),
        ],
    )
    report.table(
        "Ours / ArcticDB (goal ≤ 1)",
        ["state", "warm p50", "warm p99", "cold p50", "files", "log json", "checkpoints"],
        [
            [
                state,
                ratio(res["warm"]["p50_ms"], arctic["warm"]["p50_ms"]),
                ratio(res["warm"]["p99_ms"], arctic["warm"]["p99_ms"]),
                ratio(res["cold"]["p50_ms"], arctic["cold"]["p50_ms"]),
                res["lake"]["files"],
                res["lake"]["log_json"],
                res["lake"]["checkpoints"],
            ]
            for state, res in (("before maintain", before), ("after maintain", after))
        ],
    )


if __name__ == "__main__":
    main()
