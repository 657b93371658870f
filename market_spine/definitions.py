"""The one place that sees every domain: assets, checks, jobs, schedules and resources."""

from __future__ import annotations

import dagster as dg

from market_spine.futures.automation import futures_hourly_capture, futures_job
from market_spine.futures.daily_bars import futures_bars_daily
from market_spine.futures.normalized_bars import normalized_futures_bars_1m
from market_spine.futures.raw_bars import raw_futures_bars_1m
from market_spine.lake.resource import LakeResource
from market_spine.operations.freshness import freshness_job, freshness_schedule, futures_freshness
from market_spine.operations.maintenance import lake_maintenance, lake_maintenance_schedule
from market_spine.options.assets import OPTIONS_ASSETS
from market_spine.runner import market_resource
from market_spine.settings import Settings
from market_spine.warehouse.definitions import (
    WAREHOUSE_ASSETS,
    warehouse_automation,
    warehouse_resources,
)


def build_definitions(settings: Settings) -> dg.Definitions:
    """Definitions for one home; tests build their own with a temporary home."""
    return dg.Definitions(
        assets=[
            raw_futures_bars_1m,
            normalized_futures_bars_1m,
            futures_bars_daily,
            *OPTIONS_ASSETS,
            *WAREHOUSE_ASSETS,
        ],
        asset_checks=[futures_freshness],
        jobs=[futures_job, lake_maintenance, freshness_job],
        schedules=[futures_hourly_capture, lake_maintenance_schedule, freshness_schedule],
        sensors=[warehouse_automation],
        resources={
            "lake": LakeResource(root=str(settings.lake_root)),
            "market": market_resource(settings),
            **warehouse_resources(settings),
        },
    )


defs = build_definitions(Settings.from_env())
