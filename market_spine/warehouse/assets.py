"""The warehouse's dbt models as Dagster assets, all in one @dbt_assets so that any selection of
them, partitioned or not, is one dbt invocation.

Only the minute-bar fact is partitioned (by trade date, incremental: the run's window reaches dbt
through --vars); every other model is unpartitioned. Builds run in the `duckdb_warehouse` pool
(one dbt build at a time across runs) and take the warehouse's file lock (one writer across
processes, whatever launched it).
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation when the
# asset is defined, so annotations must stay real objects.
import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from market_spine.warehouse.project import last_vars, prepared_manifest, warehouse_project
from market_spine.warehouse.resource import WarehouseResource
from market_spine.warehouse.seeds import seed_versions
from market_spine.warehouse.translator import MINUTE_BARS, MINUTE_BARS_KEY, SpineDbtTranslator

POOL = "duckdb_warehouse"


def dbt_build_args(context: dg.AssetExecutionContext, target: Path) -> list[str]:
    """`dbt build`, with the trade-date window when the run includes minute-fact partitions.

    Without the fact, the window is inert (only the fact reads it): the build passes the vars
    of the last invocation in `target`, so dbt reuses its partial parse instead of parsing the
    whole project again, as it does whenever the vars change."""
    if MINUTE_BARS_KEY not in context.selected_asset_keys:
        # dbt would still run the fact's relationship tests for the dimensions selected, against
        # a fact this run does not build (and that may not exist yet).
        kept = last_vars(target)
        return ["build", "--exclude", MINUTE_BARS, *(["--vars", json.dumps(kept)] if kept else [])]
    keys = context.partition_key_range
    return ["build", "--vars", json.dumps({"start_date": keys.start, "end_date": keys.end})]


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
            args = dbt_build_args(context, warehouse.target_path)
            invocation = warehouse.invoke(dbt, args, context=context)
            yield from invocation.stream()

    return warehouse_dbt


#: The assets of a home with the built-in roots only.
warehouse_dbt = warehouse_dbt_for(None)
WAREHOUSE_DBT_ASSETS = (warehouse_dbt,)
