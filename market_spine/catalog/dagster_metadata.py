"""Where the catalog meets Dagster: a dataset is named by its asset key's path, and a catalog entry
becomes asset metadata, so the UI shows what the CLI, API and dbt show."""

from __future__ import annotations

from typing import Any

import dagster as dg

from market_spine.catalog.vocabulary import DatasetSpec


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
