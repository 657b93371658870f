"""A lake table written before its schema gained columns (recorded by an earlier version) reads
through its warehouse view with those columns NULL, as its dbt source declares them: the models
over it build until its next write adds them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl

from market_spine.lake.store import lake_at
from market_spine.operations.cost.table import COST_DAILY, COST_DAILY_SCHEMA
from market_spine.warehouse.dbt_plugin.lake_views import refresh_views

#: The columns cost_daily gained in its version 2.
ADDED = ("object_requests_usd", "object_requests")


def test_columns_a_table_does_not_hold_yet_read_as_null(tmp_path: Path) -> None:
    lake = lake_at(str(tmp_path / "lake"))
    row = {name: None for name in COST_DAILY_SCHEMA if name not in ADDED}
    row |= {"day": date(2026, 11, 30), "component": "futures", "dataset": "raw/x"}
    row |= {"compute_usd": 1.5, "recorded_at": datetime(2026, 12, 1, tzinfo=UTC)}
    first_version = {k: v for k, v in COST_DAILY_SCHEMA.items() if k not in ADDED}
    lake.append(COST_DAILY, pl.DataFrame([row], schema=first_version))
    conn = duckdb.connect()
    try:
        refresh_views(conn, lake)
        read = conn.sql(
            "select compute_usd, object_requests_usd, object_requests from operations.cost_daily"
        ).fetchall()
    finally:
        conn.close()
    assert read == [(1.5, None, None)]
