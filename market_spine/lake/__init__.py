"""Delta Lake machinery: the store, fast indexed reads, maintenance and the Dagster resource."""

from market_spine.lake.commits import CommitInfo
from market_spine.lake.store import Lake, lake_at

__all__ = ["CommitInfo", "Lake", "lake_at"]
