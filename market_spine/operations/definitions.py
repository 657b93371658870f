"""The operations domain's Definitions: the freshness SLA, lake maintenance, alert routing and the
daily record of the cost."""

from __future__ import annotations

import dagster as dg

from market_spine.futures.partitions import captured_symbols
from market_spine.operations.alerts.sensor import build_alerts_sensor
from market_spine.operations.audit_anchoring import build_audit_anchoring
from market_spine.operations.cost.job import build_cost_job
from market_spine.operations.freshness import (
    build_freshness_check,
    freshness_job,
    freshness_schedule,
    options_chain_freshness,
)
from market_spine.operations.maintenance import build_lake_maintenance
from market_spine.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """The freshness checks (the futures bars of the symbols the home captures, the option
    chains) with their job and schedule, the maintenance job and schedule, and the alert
    sensor; the daily record of the cost; with an `audit_anchor`, the hourly job anchoring the
    audit trail there."""
    maintenance, maintenance_schedule = build_lake_maintenance(settings)
    cost, cost_schedule = build_cost_job(settings)
    jobs = [maintenance, freshness_job, cost]
    schedules = [maintenance_schedule, freshness_schedule, cost_schedule]
    if settings.audit_anchor:
        anchoring, anchoring_schedule = build_audit_anchoring(settings)
        jobs.append(anchoring)
        schedules.append(anchoring_schedule)
    return dg.Definitions(
        asset_checks=[build_freshness_check(captured_symbols(settings)), options_chain_freshness],
        jobs=jobs,
        schedules=schedules,
        sensors=[build_alerts_sensor(settings)],
    )
