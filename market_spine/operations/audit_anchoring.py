"""The hourly job that anchors the audit trail's head outside the home (the home's
`audit_anchor`), so the daemon keeps anchors coming without anyone remembering to."""

from pathlib import Path

import dagster as dg

from market_spine.settings import Settings


def build_audit_anchoring(settings: Settings) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The job appending the head to `settings.audit_anchor`, and its hourly schedule (built
    only for a home that sets an anchor)."""
    home, target = Path(settings.home), settings.audit_anchor

    @dg.op(description="Append the audit trail's head (seq, hash, time) to the anchor target.")
    def anchor_audit_head(context: dg.OpExecutionContext) -> None:
        from market_spine.audit.anchor import append_anchor, current_anchor
        from market_spine.audit.recorder import flush_all

        flush_all()  # the entries this process holds belong before the head it anchors
        anchor = current_anchor(home)
        append_anchor(target, anchor)
        context.log.info(f"anchored audit entry {anchor.seq} ({anchor.hash})")

    @dg.job(name="audit_anchoring", description="Anchor the audit trail's head outside the home.")
    def audit_anchoring() -> None:
        """Runs `anchor_audit_head`."""
        anchor_audit_head()

    schedule = dg.ScheduleDefinition(
        job=audit_anchoring,
        cron_schedule="7 * * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Hourly: a rewrite of the trail is caught against anchors an hour old at most.",
    )
    return audit_anchoring, schedule
