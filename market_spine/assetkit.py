"""Shared by every domain's assets: check outcomes and their Dagster results, the freshness
policy, and splitting a run's dates into blocks that one predicate can replace."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl
from ulid import ULID

from market_spine.lake import Lake
from market_spine.lake.catalog import DatasetSpec


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


def contiguous_blocks(days: list[date]) -> list[tuple[date, date]]:
    """Split sorted trade dates into runs with no weekday missing, so each run is one predicate."""
    blocks: list[tuple[date, date]] = []
    for day in days:
        if blocks:
            start, end = blocks[-1]
            gap = [end + timedelta(d) for d in range(1, (day - end).days)]
            if all(g.weekday() >= 5 for g in gap):
                blocks[-1] = (start, day)
                continue
        blocks.append((day, day))
    return blocks


def conform(frame: pl.DataFrame, dtypes: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast a frame to a declared column order and dtypes (no validation)."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in dtypes.items())


def with_provenance(
    frame: pl.DataFrame, source: str, request: dict[str, Any], payload: bytes, captured_at: datetime
) -> pl.DataFrame:
    """A capture's rows plus where they came from: ULID capture id (sortable by time), capture
    time, source, the request as JSON and the payload's SHA-256."""
    return frame.with_columns(
        capture_id=pl.lit(str(ULID.from_datetime(captured_at))),
        captured_at=pl.lit(captured_at).cast(pl.Datetime("ns", "UTC")),
        source=pl.lit(source),
        request=pl.lit(json.dumps(request, sort_keys=True, default=str)),
        payload_sha256=pl.lit(hashlib.sha256(payload).hexdigest()),
    )


def rebuild_blocks(
    lake: Lake,
    days: list[date],
    source: str,
    target: str,
    compute: Callable[[pl.DataFrame], pl.DataFrame],
    run_id: str,
    partition_by: list[str],
    equals: dict[str, Any] | None = None,
    metadata_of: Callable[[pl.DataFrame], dict[str, Any]] | None = None,
) -> pl.DataFrame:
    """For each contiguous block of days (within `equals`, e.g. one symbol): read `source`,
    compute, and atomically replace that block of `target` (one commit per block, its metadata
    the run id plus `metadata_of(rows)`). Returns every row written."""
    frames = []
    for start, end in contiguous_blocks(days):
        block = {"trade_date": (start, end)}
        rows = compute(lake.read(source, equals=equals, between=block))
        lake.replace(
            target,
            rows,
            equals=equals,
            between=block,
            partition_by=partition_by,
            metadata={"run_id": run_id, **(metadata_of(rows) if metadata_of else {})},
        )
        frames.append(rows)
    return pl.concat(frames)


def catalog_metadata(spec: DatasetSpec) -> dict[str, Any]:
    """The catalog entry as asset metadata, so the Dagster UI shows the same column types and
    descriptions, grain and partitioning as the CLI, API and dbt sources."""
    return {
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(c.name, c.type_name, description=c.description) for c in spec.columns
            ]
        ),
        "dagster/table_name": spec.name,
        "grain": spec.grain,
        "partitioning": spec.partitioning,
        "schema_version": spec.schema_version,
    }
