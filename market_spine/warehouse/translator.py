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
    """Group, automation and asset checks for the warehouse's dbt nodes; the seeds' code versions
    are `seed_versions` (name -> version, `warehouse.seeds`) where given."""

    def __init__(self, seed_versions: Mapping[str, str] | None = None) -> None:
        super().__init__(DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self.seed_versions = dict(seed_versions or {})

    def get_code_version(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            found = self.seed_versions.get(dbt_resource_props["name"])
            if found is not None:
                return found
        return super().get_code_version(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_group_name(dbt_resource_props)
        return GROUP

    def get_partitions_def(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.PartitionsDefinition | None:
        return trade_dates if dbt_resource_props["name"] == MINUTE_BARS else None

    def get_partition_mapping(
        self, dbt_resource_props: Mapping[str, Any], dbt_parent_resource_props: Mapping[str, Any]
    ) -> dg.PartitionMapping | None:
        # A model built whole reads every partition of what it selects from. Said outright, as
        # Dagster would otherwise map a partitioned build's trade dates (UTC+2) onto a parent
        # counted on another clock (a company dataset's UTC days) and fail the run.
        if dbt_resource_props["name"] == MINUTE_BARS:
            return None
        return dg.AllPartitionMapping()

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        kind = dbt_resource_props["resource_type"]
        if kind == "model" and dbt_resource_props["name"] == MINUTE_BARS:
            # Only the newest trade date: older ones are rebuilt by the runs that load them.
            return dg.AutomationCondition.eager()
        if kind == "model":
            return upstream_updated()
        if kind == "seed":
            return dg.AutomationCondition.eager() | dg.AutomationCondition.code_version_changed()
        return None


def upstream_updated() -> dg.AutomationCondition:
    """True once something a model reads materialized after the model's last build or request.

    Unlike `eager()` it does not wait for every partition of a partitioned parent to exist: a
    lake table loaded for some trade dates is "missing" the others forever, so eager would
    never rebuild the models over it. Nothing updated, nothing requested: an idle platform
    launches no run.
    """
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("upstream updated since last build")
