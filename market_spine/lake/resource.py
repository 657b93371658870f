"""The lake as a Dagster resource, so assets, checks and sensors share one configured store."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from market_spine.lake.storage import is_object_uri, normalize_root
from market_spine.lake.store import Lake, lake_at


class LakeResource(dg.ConfigurableResource):
    """A Delta Lake rooted at `root`: a local folder or an `s3://bucket/prefix` URI.

    Only the root travels in a run's config. How to reach an S3 root (endpoint, credentials,
    encryption) is read where the run executes, from the home's settings when they name this
    root, so credentials never appear in a run's config, tags or the UI's view of it. Inside a
    run, an S3 lake's requests name the run in their User-Agent (lake/requester.py), so the
    store's access log says which run made each.
    """

    root: str
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A sensor's or a schedule's resource has no run: its requests name none.
        self._run_id = context.run_id

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
                return settings.lake(self._run_id)
        return lake_at(normalize_root(self.root))
