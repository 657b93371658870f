"""The one rule status and the alerts judge a schedule's latest tick by: owed once started and a
grace period past its cron time; missed without a tick at or after it; failed when that tick
failed; nothing owed while the start time is unknown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import TickStatus

from market_spine.operations.schedule_ticks import judge
from market_spine_tests.kit.schedules import add_tick, running_schedule, schedule_origin

CRON = "*/15 * * * *"
GRACE = timedelta(minutes=5)
NOW = datetime(2024, 3, 5, 14, 10, tzinfo=UTC)
DUE = datetime(2024, 3, 5, 14, 0, tzinfo=UTC)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.local_temp(tempdir=str(tmp_path)) as inst:
        yield inst


def _judge(instance: dg.DagsterInstance, started: datetime | None, now: datetime = NOW):
    state = running_schedule(instance, schedule_origin("capture"), CRON, started)
    return state, judge(instance, state, CRON, "UTC", now, GRACE)


def test_the_due_tick_is_the_latest_cron_time_a_grace_period_ago(
    instance: dg.DagsterInstance,
) -> None:
    _, verdict = _judge(instance, NOW - timedelta(hours=1), now=DUE + timedelta(minutes=4))
    assert verdict is not None and verdict.due == DUE - timedelta(minutes=15)
    assert verdict.due_text == "2024-03-05T13:45:00Z"


def test_no_tick_at_or_after_the_due_time_is_missed(instance: dg.DagsterInstance) -> None:
    state, verdict = _judge(instance, NOW - timedelta(hours=1))
    assert verdict is not None and (verdict.due, verdict.problem) == (DUE, "missed")
    add_tick(instance, state, DUE - timedelta(minutes=15))  # an older tick does not count
    assert judge(instance, state, CRON, "UTC", NOW, GRACE).problem == "missed"
    add_tick(instance, state, DUE + timedelta(seconds=30))  # a late tick does
    assert judge(instance, state, CRON, "UTC", NOW, GRACE).problem is None


def test_a_failed_tick_is_failed_with_its_error(instance: dg.DagsterInstance) -> None:
    state, _ = _judge(instance, NOW - timedelta(hours=1))
    add_tick(instance, state, DUE, TickStatus.FAILURE, error="code location is down\ntrace")
    verdict = judge(instance, state, CRON, "UTC", NOW, GRACE)
    assert (verdict.problem, verdict.error) == ("failed", "code location is down")


def test_a_tick_that_came_is_kept(instance: dg.DagsterInstance) -> None:
    state, _ = _judge(instance, NOW - timedelta(hours=1))
    add_tick(instance, state, DUE)
    assert judge(instance, state, CRON, "UTC", NOW, GRACE).problem is None


@pytest.mark.parametrize("started", [None, DUE + timedelta(minutes=1)])
def test_nothing_is_owed_before_the_start_or_when_it_is_unknown(
    instance: dg.DagsterInstance, started: datetime | None
) -> None:
    assert _judge(instance, started)[1] is None
