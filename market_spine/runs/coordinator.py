"""Runs the UI, schedules, sensors, backfills and retries submit are tagged like the CLI's: who
launched them, from where, and the provider settings they capture with. Dagster queues them as
usual (the QueuedRunCoordinator and its `concurrency` limits)."""

from __future__ import annotations

from collections.abc import Mapping

from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun

from market_spine.audit.changes import run_launched
from market_spine.config.identity import os_user
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.provenance import LAUNCHED_BY, LAUNCHED_FROM, provider_tags
from market_spine.settings import Settings

#: Dagster's own tags that say how a run was submitted, most specific first.
_SUBMITTED_BY = (
    ("dagster/retry_number", "retry"),
    ("dagster/backfill", "backfill"),
    ("dagster/schedule_name", "schedule"),
    ("dagster/sensor_name", "sensor"),
)


def launched_from(tags: Mapping[str, str]) -> str:
    """Where a submitted run came from: a retry, a backfill, a schedule, a sensor, or the UI
    (a launch or a re-execution); a run the CLI launched keeps its own origin."""
    for tag, origin in _SUBMITTED_BY:
        if tag in tags:
            return origin
    return tags.get(LAUNCHED_FROM, "ui")


def submission_tags(run: DagsterRun, server: MarketDataResource) -> dict[str, str]:
    """The tags to add to a submitted run: origin and user always; provider settings from the
    run's own market config when it has one, else from the server's settings."""
    market_config = run.run_config.get("resources", {}).get("market", {}).get("config")
    market = MarketDataResource(**market_config) if market_config else server
    tags = {
        LAUNCHED_FROM: launched_from(run.tags),
        LAUNCHED_BY: run.tags.get(LAUNCHED_BY, os_user()),
        **provider_tags(market),
    }
    return {k: v for k, v in tags.items() if run.tags.get(k) != v}


class SpineRunCoordinator(QueuedRunCoordinator):
    """The queued run coordinator, adding the origin and provider tags before queueing."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        tags = submission_tags(run, MarketDataResource.from_settings(Settings.from_env()))
        if tags:
            self._instance.add_run_tags(run.run_id, tags)
            run = self._instance.get_run_by_id(run.run_id) or run
        home = Settings.home_from_env()
        run_launched(home, run.run_id, run.tags, run.asset_selection or (), action="run.submit")
        return super().submit_run(SubmitRunContext(run, context.workspace))
