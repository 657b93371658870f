"""Delta Lake machinery: the store, fast indexed reads, maintenance and the Dagster resource."""

from market_spine.lake.store import CommitInfo, Lake

__all__ = ["CommitInfo", "Lake"]
