"""The lake as a Dagster resource, so assets, checks and sensors share one configured store."""

from __future__ import annotations

from functools import lru_cache

import dagster as dg

from market_spine.lake.store import Lake


@lru_cache(maxsize=16)
def lake_at(root: str) -> Lake:
    """One Lake per root in a process, so its snapshot and footer caches are shared."""
    return Lake(root)


class LakeResource(dg.ConfigurableResource):
    """A Delta Lake rooted at `root` (a local folder; an object-store URI later)."""

    root: str

    @property
    def lake(self) -> Lake:
        """The store for this root."""
        return lake_at(self.root)
