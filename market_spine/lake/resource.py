"""The lake as a Dagster resource, so assets, checks and sensors share one configured store."""

from __future__ import annotations

import dagster as dg

from market_spine.lake.store import Lake, lake_at


class LakeResource(dg.ConfigurableResource):
    """A Delta Lake rooted at `root` (a local folder; an object-store URI later)."""

    root: str

    @property
    def lake(self) -> Lake:
        """The store for this root."""
        return lake_at(self.root)
