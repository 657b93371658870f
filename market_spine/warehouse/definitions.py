"""The warehouse domain's Definitions: the dbt assets, the check-results table, the automation
sensor and the dbt and warehouse resources."""

from __future__ import annotations

import dagster as dg

from market_spine.settings import Settings
from market_spine.warehouse.assets import warehouse_dbt_for
from market_spine.warehouse.automation import warehouse_automation
from market_spine.warehouse.project import dbt_resource
from market_spine.warehouse.quality import check_results
from market_spine.warehouse.resource import WarehouseResource


def warehouse_resources(settings: Settings) -> dict[str, object]:
    """The resources the warehouse assets need for a home (the lake resource comes separately)."""
    return {"dbt": dbt_resource(), "warehouse": WarehouseResource.for_settings(settings)}


def build_definitions(settings: Settings) -> dg.Definitions:
    """The warehouse assets and sensor with the resources they need for a home."""
    return dg.Definitions(
        assets=[warehouse_dbt_for(settings.instruments_path), check_results],
        sensors=[warehouse_automation],
        resources=warehouse_resources(settings),
    )
