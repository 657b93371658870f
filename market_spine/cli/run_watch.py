"""One line per run on the console of `market-spine up` while it serves: each run the UI, a
schedule, a sensor or a retry launches is named when it starts and when it ends (succeeded,
failed with its cause, or canceled). The run's logs in the UI keep everything else."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

#: Statuses worth a line, and how the line says them.
_SAID = {
    "STARTED": "started",
    "SUCCESS": "[green]succeeded[/]",
    "FAILURE": "[red]failed[/]",
    "CANCELED": "[yellow]canceled[/]",
}


class RunWatch:
    """Remembers the status it last reported per run, and reports changes since `since`."""

    def __init__(self, instance: dg.DagsterInstance, since: datetime) -> None:
        self._instance = instance
        self._since = since
        self._said: dict[str, str] = {}

    def changes(self) -> list[str]:
        """A line per run whose status changed to one worth saying since the last call, oldest
        first (rich markup). A failed run's line ends with its cause and where to read more."""
        import dagster as dg
        from rich.markup import escape

        from market_spine.cli.console import brief
        from market_spine.operations.run_history import cause_of, run_row

        records = self._instance.get_run_records(
            dg.RunsFilter(updated_after=self._since), limit=100, order_by="update_timestamp"
        )
        lines = []
        for record in reversed(records):
            run = record.dagster_run
            status = run.status.value
            if status not in _SAID or self._said.get(run.run_id) == status:
                continue
            self._said[run.run_id] = status
            row = run_row(self._instance, record, metrics=False)
            what = escape(", ".join(d.rsplit("/", 1)[-1] for d in row.datasets[:2]) or row.job)
            more = len(row.datasets) - 2
            what += f" +{more}" if more > 0 else ""
            span = f" {row.span.label}" if row.span else ""
            origin = f" ({row.launched_from})" if row.launched_from else ""
            line = f"run {run.run_id[:8]} {what}{span}{origin}: {_SAID[status]}"
            if status in ("SUCCESS", "FAILURE", "CANCELED") and row.duration_s is not None:
                line += f" after {row.duration_s:.0f} s"
            if status == "FAILURE":
                cause = escape(brief(cause_of(self._instance, run) or "see the run's logs"))
                line += f": {cause} (`market-spine runs show {run.run_id[:8]}`)"
            lines.append(line)
        return lines
