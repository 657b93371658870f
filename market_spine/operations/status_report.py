"""The morning check's answer as plain data: `StatusReport` and its `Health` rows, which
`operations.status` computes and the API serves, and which `market-spine status` reads back from
the API's JSON without importing what computes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Health:
    """One part of the platform: whether it is fine, and what was found."""

    name: str
    ok: bool
    detail: str


@dataclass
class StatusReport:
    """The whole morning check. `ok` only when nothing in it is red: warnings (WARN-severity
    findings, runs in flight) do not count."""

    generated_at: datetime
    health: list[Health] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    missed_ticks: list[dict[str, Any]] = field(default_factory=list)
    active_runs: list[dict[str, Any]] = field(default_factory=list)
    findings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every part is healthy and nothing failed, is stale, missed or in error."""
        return (
            all(h.ok for h in self.health)
            and not self.failures
            and not self.stale
            and not self.missed_ticks
            and not self.findings.get("by_severity", {}).get("ERROR", 0)
        )

    def as_json(self) -> dict[str, Any]:
        """Plain data for `status --json`."""
        return {
            "ok": self.ok,
            "generated_at": self.generated_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "health": [asdict(h) for h in self.health],
            "failures": self.failures,
            "stale": self.stale,
            "missed_ticks": self.missed_ticks,
            "active_runs": self.active_runs,
            "findings": self.findings,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatusReport:
        """The report `as_json` wrote (the API's `/v1/status` body). KeyError or ValueError
        when `data` is not such a report."""
        return cls(
            generated_at=datetime.fromisoformat(data["generated_at"]),
            health=[Health(h["name"], bool(h["ok"]), h["detail"]) for h in data["health"]],
            failures=list(data["failures"]),
            stale=list(data["stale"]),
            missed_ticks=list(data["missed_ticks"]),
            active_runs=list(data["active_runs"]),
            findings=dict(data["findings"]),
            seconds=float(data["seconds"]),
        )
