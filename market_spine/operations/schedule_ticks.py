"""Whether a schedule kept its latest tick: the one rule the operator's status and the alert rules
both judge by. A schedule owes the tick of its latest cron time at least a grace period ago, once
it has started; the tick is missed when the instance holds none at or after that time, and failed
when the tick at that time failed. A schedule whose start time is unknown owes nothing yet: a
fresh home must not start red."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorState, TickStatus
from dagster._utils.schedules import reverse_cron_string_iterator


def latest_due(
    cron: str | Sequence[str], timezone: str, now: datetime, grace: timedelta
) -> datetime:
    """The latest cron time at least `grace` before `now` (the newest of several crons)."""
    crons = [cron] if isinstance(cron, str) else list(cron)
    return max(
        next(reverse_cron_string_iterator((now - grace).timestamp(), c, timezone)) for c in crons
    )


def ticks_since(
    instance: dg.DagsterInstance, state: InstigatorState, due: datetime, limit: int
) -> Sequence[Any]:
    """The schedule's ticks from `due` on (a second of slack for the stored timestamp)."""
    return instance.get_ticks(
        state.instigator_origin_id, state.selector_id, after=due.timestamp() - 1, limit=limit
    )


#: Ticks read past a due time: enough to find the due tick among retries and later ticks.
TICKS_READ = 20


@dataclass(frozen=True)
class TickVerdict:
    """The latest tick a schedule owed (UTC) and what became of it: `problem` is None when it
    ticked, else `missed` or `failed`, with the failed tick's first error line in `error`."""

    due: datetime
    problem: str | None = None
    error: str = ""

    @property
    def due_text(self) -> str:
        """The due time as ISO 8601 UTC with a Z."""
        return self.due.astimezone(UTC).isoformat().replace("+00:00", "Z")


def judge(
    instance: dg.DagsterInstance,
    state: InstigatorState,
    cron: str | Sequence[str],
    timezone: str,
    now: datetime,
    grace: timedelta,
) -> TickVerdict | None:
    """The verdict on a running schedule's latest owed tick; None when it owes none (its start
    time unknown, or later than the due time)."""
    started = getattr(state.instigator_data, "start_timestamp", None)
    due = latest_due(cron, timezone, now, grace)
    if started is None or due.timestamp() < started:
        return None
    ticks = ticks_since(instance, state, due, limit=TICKS_READ)
    at_due = [t for t in ticks if abs(t.timestamp - due.timestamp()) < 1]
    if not at_due and not any(t.timestamp > due.timestamp() for t in ticks):
        return TickVerdict(due, "missed")
    failed = [t for t in at_due if t.status == TickStatus.FAILURE]
    if failed:
        error = failed[0].error.message.strip().splitlines()[0] if failed[0].error else "no error"
        return TickVerdict(due, "failed", error)
    return TickVerdict(due)
