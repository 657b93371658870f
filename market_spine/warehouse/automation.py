"""The sensor that evaluates the warehouse's automation conditions, running out of the box
(Dagster creates automation sensors stopped unless told otherwise)."""

from __future__ import annotations

import dagster as dg

from market_spine.warehouse.assets import WAREHOUSE_DBT_ASSETS
from market_spine.warehouse.quality import check_results

warehouse_automation = dg.AutomationConditionSensorDefinition(
    "warehouse_automation",
    target=dg.AssetSelection.assets(*WAREHOUSE_DBT_ASSETS, check_results),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Builds the marts after the lake tables below them land; collects check results.",
)
