"""Shared by every domain's assets: check outcomes and their Dagster results, and the freshness
policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import dagster as dg


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict with the counts and worst offenders an operator needs to act."""

    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    warn_only: bool = False


FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=1))


def check_result(asset: dg.AssetKey, name: str, outcome: CheckOutcome) -> dg.AssetCheckResult:
    """An AssetCheckResult whose metadata shows counts as numbers and offenders as JSON."""
    severity = dg.AssetCheckSeverity.WARN if outcome.warn_only else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=outcome.passed,
        severity=severity,
        metadata={k: _meta(v) for k, v in outcome.metadata.items()},
    )


def _meta(value: Any) -> Any:
    if isinstance(value, list | dict):
        return dg.MetadataValue.json(value)
    return value
