"""An observation: one condition seen failing or passing, keyed by kind, subject and partition.

The subject is what the condition is about (`dataset:check`, a dataset, a job, a schedule, a
disk); the partition narrows it (a partition key, a symbol, or "" for the whole subject). An
alert is open per rule and key while its condition fails; a passing observation of the same key
resolves it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from market_spine.operations.alerts.rules import Kind, Rule, Severity


@dataclass(frozen=True)
class Observation:
    """A condition as one evaluation saw it. `datasets` and `owners` are what routing by
    dataset and owner reads; `details` travels in the message (JSON-ready values)."""

    kind: Kind
    subject: str
    partition: str
    failing: bool
    severity: Severity
    summary: str
    at: datetime
    datasets: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """What dedupes it: one alert per rule and key while it fails."""
        return (self.kind.value, self.subject, self.partition)


def matches(rule: Rule, seen: Observation) -> bool:
    """Whether `rule` routes the failing condition `seen`."""
    if seen.kind not in rule.when or seen.severity not in rule.severities:
        return False
    if rule.owners and not set(rule.owners) & set(seen.owners):
        return False
    pairs = ((dataset, pattern) for dataset in seen.datasets for pattern in rule.datasets)
    return not rule.datasets or any(fnmatch.fnmatchcase(d, p) for d, p in pairs)
