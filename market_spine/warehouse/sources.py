"""The dbt sources file, generated from the catalog so the warehouse's description of each lake
table (text, columns, owning asset) cannot drift from the platform's: a test compares the file
with `render()`. Regenerate with `python -m market_spine.warehouse.sources`."""

from __future__ import annotations

import duckdb
import polars as pl
import yaml

from market_spine.catalog.registry import CATALOG
from market_spine.catalog.vocabulary import DatasetSpec
from market_spine.certification.tables import READINESS_LOG
from market_spine.company.catalog import COMPANY_DATASETS
from market_spine.futures import keys as futures_keys
from market_spine.lake.writer import delta_arrow
from market_spine.operations.cost.table import COST_DAILY
from market_spine.options import keys as options_keys
from market_spine.warehouse.paths import SOURCES_FILE
from market_spine.warehouse.tables import CHECK_RESULTS

#: The lake tables the warehouse reads, by layer (each is a view `<layer>.<table>`).
SOURCE_TABLES = (
    futures_keys.table(futures_keys.NORMALIZED_BARS),
    options_keys.table(options_keys.NORMALIZED_CHAIN),
    futures_keys.table(futures_keys.ROLLS),
    futures_keys.table(futures_keys.DAILY_BARS),
    futures_keys.table(futures_keys.CONTINUOUS_DAILY),
    options_keys.table(options_keys.GREEKS),
    options_keys.table(options_keys.SURFACE),
    CHECK_RESULTS,
    READINESS_LOG,
    *(spec.name for spec in COMPANY_DATASETS if spec.layer == "normalized"),
    COST_DAILY,
)
LAYERS = {
    "normalized": "Validated, de-duplicated lake tables (one accepted capture per partition).",
    "analytics": "Tables derived in Python from the normalized layer.",
    "quality": "Asset-check results collected from the Dagster instance.",
    "operations": "The platform's own records: the trust layer's, kept as partitions are "
    "judged, and the cost per day.",
}
HEADER = """\
# GENERATED from the catalog (market_spine/*/catalog.py) by
# `python -m market_spine.warehouse.sources`; edit the catalog, not this file.
# Each source is a view `<layer>.<table>` over the Delta table's latest snapshot, created when
# dbt connects (market_spine.warehouse.dbt_plugin.lake_plugin), and maps to the Dagster asset
# that writes the table, so lineage runs from raw captures to marts.
"""


def duckdb_types(spec: DatasetSpec) -> dict[str, str]:
    """Each column's DuckDB type as a view over the Delta table shows it (the types the lake
    stores: timestamps in microseconds), so a table not written yet can stand in as an empty,
    typed view."""
    empty = pl.DataFrame(schema={c.name: c.dtype for c in spec.columns}).to_arrow()
    relation = duckdb.from_arrow(delta_arrow(empty))
    return {name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)}


def render() -> str:
    """The sources yml for SOURCE_TABLES, from their catalog entries."""
    sources = []
    for layer, description in LAYERS.items():
        tables = []
        for name in SOURCE_TABLES:
            if not name.startswith(f"{layer}/"):
                continue
            spec = CATALOG.get(name)
            types = duckdb_types(spec)
            tables.append(
                {
                    "name": name.split("/", 1)[1],
                    "description": spec.description,
                    "config": {"meta": {"dagster": {"asset_key": spec.asset_path}}},
                    "columns": [
                        {"name": c.name, "data_type": types[c.name], "description": c.description}
                        for c in spec.columns
                    ],
                }
            )
        sources.append(
            {"name": layer, "description": description, "schema": layer, "tables": tables}
        )
    body = yaml.safe_dump(
        {"version": 2, "sources": sources}, sort_keys=False, width=100, allow_unicode=True
    )
    return HEADER + body


def main() -> None:
    SOURCES_FILE.write_text(render())
    print(f"wrote {SOURCES_FILE}")


if __name__ == "__main__":
    main()
