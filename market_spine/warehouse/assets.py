"""The warehouse's dbt models as Dagster assets, all in one @dbt_assets so that any selection of
them, partitioned or not, is one dbt invocation.

Only the minute-bar fact is partitioned (by trade date, incremental: the run's window reaches dbt
through the environment, `dbt_window`); every other model is unpartitioned. Builds run in the
`duckdb_warehouse` pool (one dbt build at a time across runs) and take the warehouse's file
lock (one writer across processes, whatever launched it).
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation when the
# asset is defined, so annotations must stay real objects.
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from market_spine.warehouse.project import BUILD_EXCLUDES, prepared_manifest, warehouse_project
from market_spine.warehouse.resource import WINDOW_VARIABLES, WarehouseResource
from market_spine.warehouse.seeds import seed_versions
from market_spine.warehouse.translator import MINUTE_BARS, MINUTE_BARS_KEY, SpineDbtTranslator

POOL = "duckdb_warehouse"


def dbt_build_args(context: dg.AssetExecutionContext) -> list[str]:
    """`dbt build` of the run's selection without the unit tests (`BUILD_EXCLUDES`).

    Without the minute fact, the fact is excluded by name: dbt would still run its relationship
    tests for the dimensions selected, against a fact this run does not build (and that may not
    exist yet)."""
    if MINUTE_BARS_KEY not in context.selected_asset_keys:
        return ["build", *BUILD_EXCLUDES, "--exclude", MINUTE_BARS]
    return ["build", *BUILD_EXCLUDES]


def dbt_window(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The trade-date window (inclusive ISO dates) of a run that builds minute-fact partitions,
    as the `trade_date_window` macro reads it from the environment; empty otherwise (the
    resource unsets what a window does not set). Not
    --vars: dbt parses the whole project again whenever those change, while a changed variable
    only re-parses the models that read it."""
    if MINUTE_BARS_KEY not in context.selected_asset_keys:
        return {}
    keys = context.partition_key_range
    return dict(zip(WINDOW_VARIABLES, (keys.start, keys.end), strict=True))


def warehouse_dbt_for(instruments_path: Path | None) -> dg.AssetsDefinition:
    """The dbt assets of a home reading the instruments file at `instruments_path` (None: the
    built-in roots only): the same assets, with the seeds versioned by what the home loads
    (`seeds.seed_versions`)."""
    return _warehouse_dbt(tuple(sorted(seed_versions(instruments_path).items())))


@lru_cache(maxsize=8)
def _warehouse_dbt(versions: tuple[tuple[str, str], ...]) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=prepared_manifest(),
        project=warehouse_project,
        dagster_dbt_translator=SpineDbtTranslator(dict(versions)),
        name="warehouse_dbt",
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=POOL,
    )
    def warehouse_dbt(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        """Seeds, staging and intermediate views, dimensions and facts: the run's selection."""
        with warehouse.writing():
            args = dbt_build_args(context)
            invocation = warehouse.invoke(dbt, args, context=context, window=dbt_window(context))
            yield from invocation.stream()

    return warehouse_dbt


#: The assets of a home with the built-in roots only.
warehouse_dbt = warehouse_dbt_for(None)
WAREHOUSE_DBT_ASSETS = (warehouse_dbt,)
