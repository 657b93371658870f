"""The lake tables the warehouse reads beyond the platform's own (light: no Dagster import,
because the dbt-duckdb plugin imports this inside every dbt process)."""

from __future__ import annotations

import pyarrow as pa

#: The Delta table that carries Dagster's asset-check results into the warehouse.
CHECK_RESULTS = "quality/check_results"
CHECK_RESULTS_SCHEMA = pa.schema(
    [
        ("evaluation_id", pa.string()),
        ("storage_id", pa.int64()),
        ("evaluated_at", pa.timestamp("us", "UTC")),
        ("run_id", pa.string()),
        ("asset_key", pa.string()),
        ("check_name", pa.string()),
        ("partition_key", pa.string()),
        ("passed", pa.bool_()),
        ("severity", pa.string()),
        ("description", pa.string()),
        ("metadata_json", pa.string()),
    ]
)
