"""The scheduled lake-maintenance job: compaction, checkpoints and vacuum for every table."""

import dagster as dg

from market_spine.errors import LakeError
from market_spine.lake.maintenance import DEFAULT_RETENTION_HOURS, maintain
from market_spine.lake.resource import LakeResource


class MaintenanceConfig(dg.Config):
    """How far back time travel must keep working."""

    retention_hours: int = DEFAULT_RETENTION_HOURS


@dg.op(description="Compact, checkpoint and vacuum each Delta table in the lake.")
def maintain_lake(
    context: dg.OpExecutionContext, config: MaintenanceConfig, lake: LakeResource
) -> None:
    """One pass over every table; the report of each lands as metadata on the run. A damaged
    table is refused (logged) without stopping the others; the op then fails naming them."""
    refused = []
    for dataset in lake.lake.datasets():
        try:
            report = maintain(lake.lake, dataset, retention_hours=config.retention_hours)
        except LakeError as exc:
            context.log.error(str(exc))
            refused.append(dataset)
            continue
        context.log.info(f"maintained {dataset}: {report}")
        context.log_event(
            dg.AssetObservation(
                asset_key=dg.AssetKey(dataset.split("/")), metadata=report.as_metadata()
            )
        )
    if refused:
        raise LakeError(
            f"damaged tables were not maintained: {', '.join(refused)}; `market-spine verify` "
            "names each damaged file and its repair"
        )


@dg.job(description="Keep reads fast after many daily commits: compact, checkpoint, vacuum.")
def lake_maintenance() -> None:
    """Runs `maintain_lake`."""
    maintain_lake()


lake_maintenance_schedule = dg.ScheduleDefinition(
    job=lake_maintenance,
    cron_schedule="30 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 06:30 UTC, between the CME sessions' busiest hours.",
)
