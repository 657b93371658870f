"""Catalog entry of the warehouse's one lake table: the collected asset-check results."""

from __future__ import annotations

from datetime import date

import polars as pl

from market_spine.catalog.vocabulary import DatasetSpec, SchemaChange, columns_of
from market_spine.lake.arrow import empty_table
from market_spine.warehouse.tables import CHECK_RESULTS, CHECK_RESULTS_SCHEMA

_DESCRIPTIONS = {
    "evaluation_id": "`run_id:storage_id` of the evaluation; unique, so collection is idempotent.",
    "storage_id": "The event's id in the Dagster event log.",
    "evaluated_at": "When the check was evaluated (UTC).",
    "run_id": "The Dagster run that evaluated it.",
    "asset_key": "The checked asset, e.g. normalized/futures_bars_1m.",
    "check_name": "The check, e.g. completeness.",
    "partition_key": "The partition (or partition range) the run covered; null if none.",
    "passed": "Whether the check passed.",
    "severity": "ERROR (blocks downstream when it fails) or WARN.",
    "description": "The check's description.",
    "metadata_json": "The check's metadata (counts, worst offenders) as JSON.",
}

CHECK_RESULTS_SPEC = DatasetSpec(
    name=CHECK_RESULTS,
    description=(
        "Every asset-check evaluation recorded in the Dagster instance, appended as it is "
        "collected, so the warehouse's mart_data_quality can report on data quality in SQL."
    ),
    owner="team:platform",
    grain="one row per check evaluation",
    partitioning="none (append-only)",
    columns=columns_of(pl.from_arrow(empty_table(CHECK_RESULTS_SCHEMA)).schema, _DESCRIPTIONS),
    history=(SchemaChange(1, date(2026, 11, 23), "first version"),),
)
WAREHOUSE_DATASETS = (CHECK_RESULTS_SPEC,)
