"""The warehouse: dbt on DuckDB (`<home>/warehouse/spine.duckdb`) over the Delta lake, as Dagster
assets whose lineage continues the lake's (raw → normalized → analytics → staging → marts).

Kept free of imports: `dbt_plugin` runs inside every dbt process and must not pull in Dagster
through this package. The Dagster side starts at `market_spine.warehouse.definitions`; the
paths of the dbt project and of a home's warehouse are in `market_spine.warehouse.paths`.
"""
