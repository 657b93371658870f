"""The lake as a Dagster resource, so assets, checks and sensors share one configured store."""

from __future__ import annotations

import dagster as dg

from market_spine.lake.storage import is_object_uri, normalize_root
from market_spine.lake.store import Lake, lake_at


class LakeResource(dg.ConfigurableResource):
    """A Delta Lake rooted at `root`: a local folder or an `s3://bucket/prefix` URI.

    Only the root travels in a run's config. How to reach an S3 root (endpoint, credentials,
    encryption) is read where the run executes, from the home's settings when they name this
    root, so credentials never appear in a run's config, tags or the UI's view of it.
    """

    root: str

    @property
    def lake(self) -> Lake:
        """The store for this root."""
        if is_object_uri(self.root):
            from market_spine.errors import SpineError
            from market_spine.settings import Settings

            try:
                settings = Settings.from_env()
            except SpineError:
                settings = None
            if settings is not None and settings.lake_location == normalize_root(self.root):
                return settings.lake()
        return lake_at(normalize_root(self.root))
