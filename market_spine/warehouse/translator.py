"""How dbt nodes become Dagster assets: sources resolve to the Python assets that write the lake
tables (their `meta.dagster.asset_key`), models keep `<schema>/<name>` keys, the minute-bar fact
is partitioned by trade date, and everything the warehouse builds is kept current by declarative
automation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from market_spine.futures.partitions import trade_dates

GROUP = "warehouse"
MINUTE_BARS = "fct_futures_bars_1m"
MINUTE_BARS_KEY = dg.AssetKey(["marts", MINUTE_BARS])


class SpineDbtTranslator(DagsterDbtTranslator):
    """Group, automation and asset checks for the warehouse's dbt nodes."""

    def __init__(self) -> None:
        super().__init__(DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_group_name(dbt_resource_props)
        return GROUP

    def get_partitions_def(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.PartitionsDefinition | None:
        return trade_dates if dbt_resource_props["name"] == MINUTE_BARS else None

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        # Models run as soon as the tables below them land (eager also waits out parents in
        # flight); seeds change only with the code, so they load when missing or changed.
        kind = dbt_resource_props["resource_type"]
        if kind == "model":
            return dg.AutomationCondition.eager()
        if kind == "seed":
            return dg.AutomationCondition.eager() | dg.AutomationCondition.code_version_changed()
        return None
