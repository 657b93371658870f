"""The warehouse: dbt on DuckDB (`<home>/warehouse/spine.duckdb`) over the Delta lake, as Dagster
assets whose lineage continues the lake's (raw → normalized → analytics → staging → marts).

Kept empty on purpose: the dbt-duckdb plugin imports `market_spine.warehouse.lake_plugin` inside
every dbt process, which must not import Dagster (slow, and dagster-dbt resets dbt's flags).
The Dagster side is in `market_spine.warehouse.definitions`.
"""
