"""A dbt-duckdb plugin (named in profiles.yml) that refreshes the `<layer>.<name>` lake views once
when dbt opens the warehouse.

dbt sources then point at those views (`schema: normalized`, ...). With `keep_open: true` in the
profile, one build sees one snapshot of every table.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from market_spine.company.home_defs import use_home
from market_spine.company.masking import use_hash_key
from market_spine.lake.store import Lake
from market_spine.process_environment import RUN_ID
from market_spine.security.pii_hash_key import pii_hash_key
from market_spine.warehouse.dbt_plugin.lake_views import refresh_views


class Plugin(BasePlugin):
    """Creates the lake views on the dbt connection; needs `lake_root` in its config."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        if "lake_root" not in plugin_config:
            raise ValueError("the lake plugin needs `lake_root` in its config (profiles.yml)")
        self.lake_root = Path(plugin_config["lake_root"])
        # A build of the warehouse as of an instant (market_spine.warehouse.as_of) names it.
        raw = plugin_config.get("as_of")
        self.as_of = datetime.fromisoformat(raw) if raw else None
        # DuckDB creates the database file but not its folder.
        if self.creds is not None and self.creds.path not in (None, ":memory:"):
            Path(self.creds.path).parent.mkdir(parents=True, exist_ok=True)

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        # The lake folder is always `<home>/lake` (a lake on object storage keeps its ledger
        # there), so its parent is the home whose key hashes the masked personal data, and
        # whose own company datasets say which of their columns the views mask.
        home = self.lake_root.parent
        use_hash_key(conn, pii_hash_key(home))
        use_home(home)
        refresh_views(conn, lake_of(self.lake_root), self.as_of)


def lake_of(lake_root: Path) -> Lake:
    """The lake whose views dbt builds on: the home's (wherever its settings put it, an S3
    bucket included) when `lake_root` is the home's lake folder, else the folder itself."""
    from market_spine.errors import SpineError
    from market_spine.settings import Settings

    try:
        settings = Settings.from_env()
    except SpineError:
        settings = None
    if settings is not None and settings.lake_root.resolve() == lake_root.resolve():
        # A build for a run names it in its requests to an S3 lake, as the run's steps do.
        return settings.lake(os.environ.get(RUN_ID) or None)
    return Lake(lake_root)
