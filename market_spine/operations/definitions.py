"""The operations domain's Definitions: the freshness SLA and lake maintenance."""

from __future__ import annotations

import dagster as dg

from market_spine.operations.freshness import freshness_job, freshness_schedule, futures_freshness
from market_spine.operations.maintenance import lake_maintenance, lake_maintenance_schedule
from market_spine.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """The freshness check with its job and schedule, and the maintenance job and schedule."""
    del settings
    return dg.Definitions(
        asset_checks=[futures_freshness],
        jobs=[lake_maintenance, freshness_job],
        schedules=[lake_maintenance_schedule, freshness_schedule],
    )
