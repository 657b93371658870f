"""The scheduled lake-maintenance job: company datasets' rows past their own retention deleted,
then compaction, checkpoints and pruning past the home's retention for every table, keeping
certified versions (operations/retention.py)."""

import dagster as dg

from market_spine.errors import LakeError
from market_spine.lake.maintenance import MaintenanceReport
from market_spine.lake.resource import LakeResource
from market_spine.operations.retention import maintain_lake as maintain_tables
from market_spine.settings import Settings


class MaintenanceConfig(dg.Config):
    """How far back time travel must keep working for versions no certification pins."""

    retention_hours: int


@dg.op(description="Compact, checkpoint and prune each Delta table, keeping certified versions.")
def maintain_lake(
    context: dg.OpExecutionContext, config: MaintenanceConfig, lake: LakeResource
) -> None:
    """One pass over every table; the report of each lands as metadata on the run and each
    pruning in operations/prunings. A damaged table is refused (logged) without stopping the
    others; the op then fails naming them."""

    def observe(report: MaintenanceReport) -> None:
        context.log.info(f"maintained {report.dataset}: {report}")
        context.log_event(
            dg.AssetObservation(
                asset_key=dg.AssetKey(report.dataset.split("/")), metadata=report.as_metadata()
            )
        )

    done = maintain_tables(lake.lake, config.retention_hours, context.run_id, observe)
    for expired in done.expired:
        context.log.info(f"retention: {expired}")
        context.log_event(
            dg.AssetObservation(
                asset_key=dg.AssetKey(expired.dataset.split("/")),
                metadata={
                    "retention_rows_deleted": expired.rows,
                    "retention_cutoff": expired.cutoff.isoformat(),
                    "retention_version": expired.version,
                    # A daily dataset's rows go by business date: the first one kept.
                    **(
                        {"retention_kept_from": expired.kept_from.isoformat()}
                        if expired.kept_from
                        else {}
                    ),
                },
            )
        )
    for table in done.undeclared:
        context.log.warning(str(table))
    for message in done.refused.values():
        context.log.error(message)
    if done.refused:
        raise LakeError(
            f"damaged tables were not maintained: {', '.join(done.refused)}; `market-spine "
            "verify` names each damaged file and its repair"
        )


def build_lake_maintenance(
    settings: Settings,
) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The maintenance job, pruning at the home's `retention_days` unless a run's config says
    otherwise, and its daily schedule."""

    @dg.job(
        name="lake_maintenance",
        description="Keep reads fast after many daily commits: compact, checkpoint, prune.",
        config={
            "ops": {"maintain_lake": {"config": {"retention_hours": settings.retention_hours}}}
        },
    )
    def lake_maintenance() -> None:
        """Runs `maintain_lake`."""
        maintain_lake()

    schedule = dg.ScheduleDefinition(
        job=lake_maintenance,
        cron_schedule="30 6 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Daily at 06:30 UTC, between the CME sessions' busiest hours.",
    )
    return lake_maintenance, schedule
