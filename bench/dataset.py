"""The benchmark rows, built once and cached: 5 years × CL/ES/NG of simulated 1-minute bars.

`bars()` returns ≈5.4 M rows (2019-11-01..2024-10-31) as a polars frame conforming to
`NORMALIZED_BARS` (one constant `capture_id`), sorted by symbol and ts — what the normalized asset
writes. The first call simulates every session (≈10-15 s on 2 cores) and caches the frame as zstd
Parquet under `bench/.data/` (gitignored); later calls load it in a second or two.

`build_lake()` writes those rows into a Market Spine home the way a backfill does: one
`Lake.replace` per symbol of its whole 5-year frame, partitioned by symbol.

Run it directly to (re)build the cache and print its size: `.venv/bin/python bench/dataset.py`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.futures.schemas import NORMALIZED_BARS
from market_spine.lake import Lake
from market_spine.lake.commits import CommitInfo
from market_spine.markets.calendars import trading_days
from market_spine.providers.simulated import SimulatedMarket
from market_spine.settings import Settings

DATA = Path(__file__).resolve().parent / ".data"
SYMBOLS = ("CL", "ES", "NG")
START = date(2019, 11, 1)
END = date(2024, 10, 31)
SEED = 7
CAPTURE_ID = "01BENCH0000000000000000000"
DATASET = "normalized/futures_bars_1m"
DAILY_DATASET = "analytics/futures_bars_daily"
CACHE = DATA / f"bars_{START:%Y%m%d}_{END:%Y%m%d}_seed{SEED}.parquet"


def simulate(
    symbols: tuple[str, ...] = SYMBOLS, start: date = START, end: date = END
) -> pl.DataFrame:
    """Simulate every session of `symbols` in [start, end] as normalized rows."""
    market = SimulatedMarket(seed=SEED)
    frames = []
    for symbol in symbols:
        for day in trading_days(symbol, start, end):
            bars = market.bars(symbol, day)
            frames.append(bars.with_columns(trade_date=pl.lit(day), capture_id=pl.lit(CAPTURE_ID)))
    return conform(pl.concat(frames, rechunk=True), NORMALIZED_BARS).sort("symbol", "ts")


def bars() -> pl.DataFrame:
    """The 5-year × 3-symbol frame, from the Parquet cache (built on first use)."""
    if not CACHE.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        frame = simulate()
        tmp = CACHE.with_suffix(".tmp")
        frame.write_parquet(tmp, compression="zstd", row_group_size=256 * 1024)
        tmp.replace(CACHE)
        return frame
    return conform(pl.read_parquet(CACHE), NORMALIZED_BARS)


def sessions(frame: pl.DataFrame) -> pl.DataFrame:
    """(symbol, trade_date) of every session in the frame, with its row count and ts range."""
    return (
        frame.group_by("symbol", "trade_date")
        .agg(rows=pl.len(), first_ts=pl.col("ts").min(), last_ts=pl.col("ts").max())
        .sort("symbol", "trade_date")
    )


def settings_for(home: Path) -> Settings:
    """Settings of a benchmark home (its lake lives at `<home>/lake`)."""
    return Settings.from_env({"MARKET_SPINE_HOME": str(home)})


def replace_sessions(
    lake: Lake,
    table: str,
    rows: pl.DataFrame,
    symbol: str,
    first: date,
    last: date,
    metadata: dict[str, str] | None = None,
) -> CommitInfo:
    """Replace `symbol`'s trade dates [first, last] of `table` with `rows` in one commit,
    partitioned by symbol, as the futures assets write a block of sessions."""
    return lake.replace(
        table,
        rows,
        equals={"symbol": symbol},
        between={"trade_date": (first, last)},
        partition_by=["symbol"],
        metadata=metadata,
    )


def write_lake(lake: Lake, frame: pl.DataFrame) -> None:
    """Write the rows as a backfill does: one `replace` per symbol of its whole date range."""
    for symbol in frame["symbol"].unique(maintain_order=True).to_list():
        part = frame.filter(pl.col("symbol") == symbol)
        lo, hi = part["trade_date"].min(), part["trade_date"].max()
        meta = {"source": "bench", "capture_id": CAPTURE_ID}
        replace_sessions(lake, DATASET, part, symbol, lo, hi, meta)


def build_lake(home: Path, frame: pl.DataFrame | None = None, daily: bool = False) -> Settings:
    """A fresh home at `home` holding the normalized bars (and, if asked, the daily bars the
    `analytics/futures_bars_daily` asset derives from them); returns its settings."""
    if home.exists():
        shutil.rmtree(home)
    settings = settings_for(home)
    frame = bars() if frame is None else frame
    lake = Lake(settings.lake_root)
    write_lake(lake, frame)
    if daily:
        from market_spine.futures.daily_bars import daily_from_minutes

        for symbol in SYMBOLS:
            rows = daily_from_minutes(frame.filter(pl.col("symbol") == symbol))
            lo, hi = rows["trade_date"].min(), rows["trade_date"].max()
            replace_sessions(lake, DAILY_DATASET, rows, symbol, lo, hi)
    return settings


def lake_stats(lake: Lake, dataset: str = DATASET) -> dict[str, int]:
    """Data files referenced by the current version, files on disk, and log entries."""
    path = lake.path(dataset)
    log = path / "_delta_log"
    data = [p for p in path.rglob("*.parquet") if "_delta_log" not in p.parts]
    return {
        "files": len(lake.table(dataset).file_uris()),
        "files_on_disk": len(data),
        "log_json": sum(1 for _ in log.glob("*.json")),
        "checkpoints": sum(1 for _ in log.glob("*.checkpoint*.parquet")),
        "version": lake.version(dataset) or 0,
        "bytes": sum(p.stat().st_size for p in data),
    }


if __name__ == "__main__":
    import time

    t0 = time.perf_counter()
    rebuilt = "--rebuild" in sys.argv
    if rebuilt and CACHE.exists():
        CACHE.unlink()
    df = bars()
    print(
        f"{df.height:,} rows, {df.estimated_size('mb'):.0f} MB in memory, "
        f"{CACHE.stat().st_size / 2**20:.0f} MiB cached at {CACHE} "
        f"({time.perf_counter() - t0:.1f} s)"
    )


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A scratch folder under DATA for one benchmark's homes, removed afterwards (Dagster's
    preview warnings silenced, as in the platform's own processes)."""
    from market_spine.definitions import silence_dagster_previews

    silence_dagster_previews()
    DATA.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=DATA))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
