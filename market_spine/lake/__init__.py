"""Delta Lake machinery: the store, fast indexed reads, maintenance and the Dagster resource."""

from market_spine.lake.store import CommitInfo, Lake, lake_at

__all__ = ["CommitInfo", "Lake", "lake_at"]
