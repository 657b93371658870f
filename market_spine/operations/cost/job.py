"""The daily cost job: refreshes the lake's cost per day (`operations/cost_daily`) so the
warehouse's cost mart is current without anyone running `market-spine cost --record`."""

from pathlib import Path

import dagster as dg

from market_spine.lake.resource import LakeResource
from market_spine.operations.cost.table import COST_DAILY
from market_spine.settings import Settings


class CostConfig(dg.Config):
    """The home whose price sheet and warehouse are priced, and the days refreshed."""

    home: str
    days: int = 7


@dg.op(description="Record the cost per day, component and dataset in operations/cost_daily.")
def record_cost(context: dg.OpExecutionContext, config: CostConfig, lake: LakeResource) -> None:
    """Prices the instance's runs and the lake's bytes for the last `days` days and records
    the table's materialization."""
    from market_spine.catalog.registry import CATALOG
    from market_spine.operations.cost.daily import record_cost_daily
    from market_spine.operations.cost.prices import load_prices

    home = Path(config.home)
    rows = record_cost_daily(
        context.instance, lake.lake, list(CATALOG), home, load_prices(home), days=config.days
    )
    # The table is a source of the warehouse: its materialization is what marks the cost mart
    # stale.
    context.log_event(
        dg.AssetMaterialization(
            asset_key=dg.AssetKey(COST_DAILY.split("/")),
            metadata={"rows": rows.height, "days": config.days},
        )
    )


def build_cost_job(settings: Settings) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The cost job of a home and its daily schedule (after the maintenance pass, so the bytes
    recorded are the ones kept)."""

    @dg.job(
        name="cost_daily",
        description="Record what the platform cost per day, component and dataset.",
        config={"ops": {"record_cost": {"config": {"home": str(settings.home), "days": 7}}}},
    )
    def cost_daily() -> None:
        """Runs `record_cost`."""
        record_cost()

    schedule = dg.ScheduleDefinition(
        job=cost_daily,
        cron_schedule="50 6 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Daily at 06:50 UTC, after lake maintenance.",
    )
    return cost_daily, schedule
