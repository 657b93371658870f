"""Where the catalog meets Dagster: a dataset is named by its asset key's path, and a catalog entry
becomes asset metadata, so the UI shows what the CLI, API and dbt show."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from market_spine.catalog.vocabulary import DatasetSpec
from market_spine.check_kit import CheckDef, check_specs

#: Trade dates a backfill run covers at most (per symbol where partitions are date × symbol): a
#: quarter of sessions. A range run pays Dagster's per-run cost once for all of them, and a
#: failed run is retried for its quarter, not for the whole backfill.
SESSIONS_PER_RUN = 63


def table(key: dg.AssetKey) -> str:
    """The lake dataset of an asset key: `raw/futures_bars_1m` for `["raw", "futures_bars_1m"]`."""
    return "/".join(key.path)


def catalog_metadata(spec: DatasetSpec) -> dict[str, Any]:
    """The catalog entry as asset metadata, so the Dagster UI shows the same column types and
    descriptions, grain and partitioning as the CLI, API and dbt sources."""
    return {
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(c.name, c.type_name, description=c.description) for c in spec.columns
            ]
        ),
        "dagster/table_name": spec.name,
        "grain": spec.grain,
        "partitioning": spec.partitioning,
        "schema_version": spec.schema_version,
    }


def dataset_asset(
    spec: DatasetSpec,
    checks: Sequence[CheckDef[Any]],
    partitions_def: dg.PartitionsDefinition,
    *,
    group_name: str,
    **asset_kwargs: Any,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """The `@dg.asset` writing a catalog entry's Delta table: key, upstream deps, owner,
    description and metadata all come from `spec`, its checks are partitioned like the asset,
    and a backfill runs as range runs of at most SESSIONS_PER_RUN trade dates (Dagster ranges
    date × symbol partitions over dates, one symbol per run). `asset_kwargs` go to `dg.asset`
    as they are (e.g. `pool`)."""
    key = dg.AssetKey(spec.asset_path)
    return dg.asset(
        key=key,
        deps=[dg.AssetKey(name.split("/")) for name in spec.upstream],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.multi_run(SESSIONS_PER_RUN),
        check_specs=check_specs(key, checks, partitions_def),
        group_name=group_name,
        kinds={"delta", "polars"},
        owners=[spec.owner],
        description=spec.description,
        metadata=catalog_metadata(spec),
        **asset_kwargs,
    )
