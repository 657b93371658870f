"""A failed partition's completeness is what it holds, never the share explained away: minutes
called no-trade make a certified session complete, but a failed one reads present / expected."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import polars as pl

from market_spine.certification.readiness import current_sql, log_rows


def completeness(state: str, expected: int, present: int, missing: int) -> float:
    at = datetime(2024, 3, 6, tzinfo=UTC)
    log = pl.DataFrame(
        {
            "dataset": ["normalized/futures_bars_1m"],
            "partition": ["2024-03-05|ES"],
            "symbol": ["ES"],
            "trade_date": [date(2024, 3, 5)],
            "state": [state],
            "reason": ["certifying check failed: completeness"],
            "unit": ["minutes"],
            "expected": [expected],
            "present": [present],
            "missing": [missing],
            "no_trade": [expected - present - missing],
            "anomalies": [0],
            "worst_anomaly_score": pl.Series([None], dtype=pl.Float64),
            "worst_anomaly_kind": pl.Series([None], dtype=pl.String),
            "computed_at": [at],
            "capture_id": ["c"],
            "captured_at": [at],
            "final_at": [at],
            "run_id": ["r"],
            "delta_version": [1],
        }
    )
    con = duckdb.connect()
    con.register("log", log_rows(log).to_arrow())
    return con.execute(current_sql("log", "now()", newest=True)).pl()["completeness"][0]


def test_a_failed_partition_reads_what_it_holds_not_what_is_explained() -> None:
    # 120 bars of 1,380 minutes, the rest called no-trade: explained, but not held.
    assert completeness("failed", 1380, 120, 0) == 120 / 1380
    assert completeness("failed", 1380, 120, 1260) == 120 / 1380
    assert completeness("certified", 1380, 1370, 0) == 1.0
    assert completeness("preliminary", 1380, 120, 1260) == 120 / 1380
