"""Code that runs inside every dbt process (the dbt-duckdb plugin named in profiles.yml and what
it imports). It must never import Dagster: that would slow every dbt start, and dagster-dbt
resets dbt's flags on import. A test imports it in a fresh interpreter to keep it so."""
