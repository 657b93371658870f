"""When a schedule last owed a tick, and the ticks the instance holds from then on: the part of
judging missed ticks that the operator's status and the alert rules share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorState
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
