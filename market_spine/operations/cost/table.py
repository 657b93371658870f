"""The lake table of cost per day (`operations/cost_daily`): its name, columns and catalog entry,
apart from the report so the catalog can list it without loading Dagster's run storage."""

from __future__ import annotations

from datetime import date

import polars as pl

from market_spine.catalog.vocabulary import DatasetFamily, SchemaChange

COST_DAILY = "operations/cost_daily"
_UTC = pl.Datetime("us", "UTC")
COST_DAILY_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "component": pl.String(),
    "dataset": pl.String(),
    "compute_usd": pl.Float64(),
    "requests_usd": pl.Float64(),
    "subscription_usd": pl.Float64(),
    "storage_usd": pl.Float64(),
    "cpu_s": pl.Float64(),
    "peak_memory_mb": pl.Float64(),
    "read_mb": pl.Float64(),
    "written_mb": pl.Float64(),
    "provider_requests": pl.Int64(),
    "current_bytes": pl.Int64(),
    "kept_bytes": pl.Int64(),
    "runs": pl.Int64(),
    "recorded_at": _UTC,
    # Added in version 2, after the columns of version 1 (a table of version 1 evolves).
    "object_requests_usd": pl.Float64(),
    "object_requests": pl.Int64(),
}

COST_DAILY_SPEC = DatasetFamily(
    owner="team:platform",
    partitioning="none (each refresh replaces the days it covers)",
    glossary={
        "day": "The UTC day the cost was incurred: a run's by its creation; today's row covers "
        "the day as far as it had gone when recorded.",
        "component": "The platform's domain: futures, options, streaming, warehouse, "
        "certification, operations, or providers for a subscription no run used.",
        "dataset": "The dataset or asset key charged (an asset writes the dataset of its name); "
        "(unattributed) for a subscription no run used.",
        "compute_usd": "$ of run CPU time, at the price sheet's vCPU-hour.",
        "requests_usd": "$ of provider requests, at the sheet's price per 1,000.",
        "subscription_usd": "$ of provider subscriptions: a day is a thirtieth of a month, "
        "shared by the assets by their requests that day.",
        "storage_usd": "$ of the bytes the dataset held that day (current_bytes + kept_bytes), "
        "for the day (today: its part elapsed) at the sheet's GB-month.",
        "cpu_s": "CPU seconds of the runs: measured around each step run in its run's own "
        "process (the default), the rest of a run's CPU shared equally by its assets not "
        "measured (an estimate).",
        "peak_memory_mb": "The highest peak resident memory of a run charged, MiB.",
        "read_mb": "MiB the runs read, shared like CPU.",
        "written_mb": "MiB the runs wrote, shared like CPU.",
        "provider_requests": "Requests the runs sent to providers, shared like CPU.",
        "current_bytes": "Bytes of the dataset's current version on the day: measured when the "
        "day was recorded, else the last measurement before it.",
        "kept_bytes": "Bytes of its other files (older versions, the log), as current_bytes.",
        "runs": "Distinct metered runs that contributed (a run of five assets is one run).",
        "recorded_at": "When the row was recorded, UTC.",
        "object_requests_usd": "$ of the lake's requests to its object store (GET, HEAD, PUT, "
        "LIST, DELETE) for the dataset that day, at the sheet's price per 1,000 of each kind; "
        "0 for a lake without an access log (a local folder).",
        "object_requests": "The lake's object-store requests for the dataset that day, counted "
        "from the bucket's access log; NULL on rows recorded before version 2.",
    },
    history=(
        SchemaChange(1, date(2026, 11, 30), "first version"),
        SchemaChange(
            2, date(2026, 12, 1), "object_requests_usd and object_requests: the lake's requests"
        ),
    ),
).dataset(
    COST_DAILY,
    COST_DAILY_SCHEMA,
    description=(
        "What the platform cost per day, component and dataset: compute, provider requests and "
        "subscriptions from the runs' recorded usage, and storage, priced by the home's price "
        "sheet."
    ),
    grain="one row per UTC day, component and dataset or asset",
    keys=("day", "component", "dataset"),
    written_by="`market-spine cost --record` and the daily cost job",
)
