"""What opening a table cold costs as its log grows: the first read of a small, compacted
table by a new Lake (as every run, in a process of its own, opens each table it touches).

A trust table takes a commit per step for as long as the retention keeps its log (400 days by
default, every commit kept): tens of thousands of log entries over compacted data. For logs of
LENGTHS commits (one-row appends, compacted to a file per month as the trust tables are), each
way of opening is timed on the same table in the same run, alternating, over READS cold reads:

- ours: the log's head probed from `_last_checkpoint` and the table indexed from its log files;
- listed: the same index, its head found by listing the log folder;
- delta-rs: the head listed and the index built from delta-rs' replay, as before the log index;
- scan_delta: `polars.scan_delta(...).collect()` of the same rows (no integrity checks), the
  outside baseline.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dataset
import polars as pl
import report

from market_spine.certification.ledger import COMPACT_CHECK_EVERY, keep_small
from market_spine.lake import Lake, log_index
from market_spine.lake.files import LogHead

LENGTHS = (100, 1_000, 5_000) if "--long" not in sys.argv else (100, 1_000, 5_000, 20_000)
READS = 15
TABLE = "operations/cold_open"


def row(i: int) -> pl.DataFrame:
    """One judgment-like row (a trust table's shape: text, a date, a timestamp, numbers)."""
    return pl.DataFrame(
        {
            "dataset": ["normalized/futures_bars_1m"],
            "partition": [f"{date(2024, 1, 1) + timedelta(days=i % 250)}|CL"],
            "trade_date": [date(2024, 1, 1) + timedelta(days=i % 250)],
            "state": ["certified"],
            "rows": [1380 + i % 7],
        }
    ).with_columns(computed_at=pl.lit(i, pl.Int64).cast(pl.Datetime("us", "UTC")))


@contextmanager
def way(name: str) -> Iterator[None]:
    """Open tables the `name` way while inside."""
    probed, indexed = LogHead.probed, log_index.indexed
    if name in ("listed", "delta-rs"):
        LogHead.probed = staticmethod(lambda *_: None)  # type: ignore[method-assign]
    if name == "delta-rs":
        log_index.indexed = lambda *_: None  # type: ignore[assignment]
    try:
        yield
    finally:
        LogHead.probed = probed  # type: ignore[method-assign]
        log_index.indexed = indexed


def cold_read(root: Path) -> int:
    return Lake(root).read(TABLE, equals={"state": "certified"}).height


def scan(root: Path) -> int:
    return pl.scan_delta(str(root / TABLE)).collect().height


def run(work: Path) -> dict[str, Any]:
    root = work / "lake"
    lake = Lake(root)
    written = appended = 0
    rows, figures = [], {}
    ways: dict[str, Callable[[], int]] = {
        "ours": lambda: cold_read(root),
        "listed": lambda: cold_read(root),
        "delta-rs": lambda: cold_read(root),
        "scan_delta": lambda: scan(root),
    }
    for length in LENGTHS:
        while written < length:
            commit = lake.append(TABLE, row(appended))
            appended += 1
            # The trust tables' upkeep: a file per month once past COMPACT_AT files.
            if commit.version % COMPACT_CHECK_EVERY == 0:
                keep_small(lake, TABLE)
            written = (lake.version(TABLE) or 0) + 1
        report.log(f"{written} commits written")
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(READS):
            for name, read in ways.items():
                with way(name):
                    ms, height = report.time_ms(read)
                assert height == appended, (name, height)
                times[name].append(ms)
        medians = {name: statistics.median(t) for name, t in times.items()}
        files = len(lake.snapshot(TABLE).files)
        rows.append([length, files, *(medians[name] for name in ways)])
        figures[str(length)] = {
            "files": files,
            **{f"{name}_p50_ms": round(m, 2) for name, m in medians.items()},
        }
    report.table(
        f"cold read of a compacted table by a new Lake, median of {READS} (ms)",
        ["log length (commits)", "data files", *ways],
        rows,
    )
    return figures


def main() -> None:
    with dataset.scratch("cold-open-") as work:
        figures = run(work)
    report.save("cold_open", figures)


if __name__ == "__main__":
    main()
