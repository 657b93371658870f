"""Market Spine: market data as Dagster assets over a Delta Lake."""
