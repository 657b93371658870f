"""One evaluation: read what happened, route it by the rules into alerts (opened once per rule
and condition, resolved when it clears), and deliver the messages owed.

Delivery never raises: a message that cannot be delivered is logged and stays owed for the next
evaluation (until `delivery.give_up_hours`), and a sink that failed is not tried again in the
same evaluation, so a dead endpoint costs one sink's retries, not one per message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from market_spine.operations.alerts.conditions import Observation, matches
from market_spine.operations.alerts.observe import (
    OwnersOf,
    disk_observation,
    owner_book,
    read_freshness_states,
)
from market_spine.operations.alerts.rules import AlertRules, load_rules, rules_path
from market_spine.operations.alerts.runs import read_runs
from market_spine.operations.alerts.sinks import DeliveryFailed, Message, send
from market_spine.operations.alerts.store import Alert, AlertStore
from market_spine.operations.alerts.ticks import ScheduleInfo, tick_observations

log = logging.getLogger(__name__)


@dataclass
class EvaluationReport:
    """What one evaluation did."""

    observations: int = 0
    opened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    delivered: int = 0
    failures: list[str] = field(default_factory=list)
    dropped: int = 0
    owed: int = 0

    def line(self) -> str:
        """One line for a sensor tick or a console."""
        text = (
            f"{self.observations} observations: {len(self.opened)} alerts opened, "
            f"{len(self.resolved)} resolved; {self.delivered} messages delivered"
        )
        if self.owed:
            text += f", {self.owed} owed for the next evaluation"
        if self.dropped:
            text += f", {self.dropped} dropped"
        if self.failures:
            text += f" (delivery failed: {'; '.join(self.failures)})"
        return text


def route(
    rules: AlertRules, store: AlertStore, observations: Sequence[Observation]
) -> tuple[list[Alert], list[Alert]]:
    """Open an alert per matching rule for each failing observation (once while it stays
    open), resolve every open alert of a passing one's key; the alerts opened and resolved."""
    sinks_of = {rule.name: rule.sinks for rule in rules.rules}
    # Most observations pass and have nothing to resolve: only open keys are looked up.
    open_keys = store.open_keys()
    opened: list[Alert] = []
    resolved: list[Alert] = []
    for seen in observations:
        if not seen.failing:
            if seen.key in open_keys:
                resolved += store.resolve(seen, sinks_of)
                open_keys.discard(seen.key)
            continue
        for rule in rules.rules:
            if matches(rule, seen):
                alert = store.open(rule.name, seen, rule.sinks)
                open_keys.add(seen.key)
                if alert is not None:
                    opened.append(alert)
    return opened, resolved


def deliver(
    rules: AlertRules,
    store: AlertStore,
    now: datetime,
    report: EvaluationReport,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Deliver the owed messages in order, within the rules' time budget."""
    start = clock()
    down: set[str] = set()
    give_up = timedelta(hours=rules.delivery.give_up_hours)
    for owed in store.pending():
        if owed.sink not in rules.sinks:
            store.failed(owed.id, 0, "the sink is no longer in the rules file", drop=True, at=now)
            report.dropped += 1
            continue
        if owed.sink in down or clock() - start > rules.delivery.budget_s:
            report.owed += 1
            continue
        message = Message.of(owed.alert, owed.message, rules.dagster_url)
        try:
            tries = send(owed.sink, rules, message)
        except DeliveryFailed as exc:
            created = datetime.fromisoformat(owed.created_at.replace("Z", "+00:00"))
            drop = now - created > give_up
            store.failed(owed.id, exc.tries, str(exc), drop=drop, at=now)
            down.add(owed.sink)
            report.failures.append(str(exc))
            if drop:
                report.dropped += 1
                log.error("alert %s dropped for sink %s: %s", owed.alert.id, owed.sink, exc)
            else:
                report.owed += 1
                log.warning(
                    "alert %s not delivered, retrying next evaluation: %s", owed.alert.id, exc
                )
            continue
        store.delivered(owed.id, tries, now)
        report.delivered += 1


def evaluate(
    rules: AlertRules,
    store: AlertStore,
    instance: dg.DagsterInstance | None,
    home: Path,
    *,
    schedules: Sequence[ScheduleInfo] = (),
    job_datasets: dict[str, tuple[str, ...]] | None = None,
    now: datetime | None = None,
    owners_of: OwnersOf | None = None,
) -> EvaluationReport:
    """Read the instance (when given) and the host, route, deliver, then save where reading
    stopped. Raises only when the instance or the state cannot be read."""
    now = now or datetime.now(UTC)
    owners_of = owners_of or owner_book()
    observations: list[Observation] = []
    reading = None
    if instance is not None:
        th = rules.thresholds
        reading = read_runs(instance, store, th, now, owners_of, job_datasets)
        read_freshness_states(instance, store, th, now, owners_of, reading)
        observations += reading.observations
        grace = timedelta(minutes=th.missed_tick_grace_minutes)
        observations += tick_observations(instance, schedules, now, grace, owners_of)
    observations.append(disk_observation(home, rules.thresholds, now))
    report = EvaluationReport(observations=len(observations))
    report.opened, report.resolved = route(rules, store, observations)
    if reading is not None:
        reading.commit(store)
    deliver(rules, store, now, report)
    return report


def evaluate_home(
    home: Path,
    instance: dg.DagsterInstance | None,
    *,
    schedules: Sequence[ScheduleInfo] = (),
    job_datasets: dict[str, tuple[str, ...]] | None = None,
    now: datetime | None = None,
) -> EvaluationReport | None:
    """`evaluate` with the home's rules file and state; None when the home has no rules file
    (alerting is off). A bad rules file raises InvalidInput naming the key and the fix."""
    path = rules_path(home)
    if not path.is_file():
        return None
    rules = load_rules(path)
    return evaluate(
        rules,
        AlertStore(home),
        instance,
        home,
        schedules=schedules,
        job_datasets=job_datasets,
        now=now,
    )
