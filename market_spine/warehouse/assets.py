"""The warehouse's dbt assets, split in two because a partitions definition applies to every
model of a @dbt_assets set: the minute-bar fact is partitioned by trade date (incremental, the
window passed through --vars); everything else is one unpartitioned set.

Both run in the `duckdb_warehouse` pool (one dbt build at a time across runs) and take the
warehouse's file lock (one writer across processes, whatever launched it).
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation when the
# asset is defined, so annotations must stay real objects.
import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from market_spine.futures.partitions import trade_dates
from market_spine.warehouse.project import prepared_manifest, warehouse_project
from market_spine.warehouse.resource import WarehouseResource
from market_spine.warehouse.translator import SpineDbtTranslator

POOL = "duckdb_warehouse"
MINUTE_BARS = "fct_futures_bars_1m"

_manifest = prepared_manifest()
_translator = SpineDbtTranslator()


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    args: list[str],
) -> Iterator[Any]:
    with warehouse.writing():
        invocation = warehouse.invoke(dbt, args, context=context)
        yield from invocation.stream()


@dbt_assets(
    manifest=_manifest,
    project=warehouse_project,
    exclude=MINUTE_BARS,
    dagster_dbt_translator=_translator,
    name="warehouse_dbt",
    pool=POOL,
)
def warehouse_dbt(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """Seeds, staging and intermediate views, dimensions and the unpartitioned facts."""
    yield from _build(context, dbt, warehouse, ["build"])


@dbt_assets(
    manifest=_manifest,
    project=warehouse_project,
    select=MINUTE_BARS,
    dagster_dbt_translator=_translator,
    name="warehouse_dbt_minute_bars",
    partitions_def=trade_dates,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=POOL,
)
def warehouse_dbt_minute_bars(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """fct_futures_bars_1m for the run's trade dates: replaces exactly those dates."""
    keys = context.partition_key_range
    window = {"start_date": keys.start, "end_date": keys.end}
    yield from _build(context, dbt, warehouse, ["build", "--vars", json.dumps(window)])


WAREHOUSE_DBT_ASSETS = (warehouse_dbt, warehouse_dbt_minute_bars)
