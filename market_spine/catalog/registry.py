"""The platform's one dataset registry, gathered from every domain (like definitions.py, it sees
them all), and `describe`: an entry with its live facts from the lake and the Dagster instance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from market_spine.catalog.facts import lake_facts
from market_spine.catalog.vocabulary import Catalog, DatasetSpec
from market_spine.certification.catalog import CERTIFICATION_DATASETS
from market_spine.company.captures import CAPTURES_SPEC
from market_spine.company.catalog import COMPANY_DATASETS
from market_spine.futures.catalog import FUTURES_DATASETS
from market_spine.lake.journal import JOURNALED_AT
from market_spine.lake.store import Lake
from market_spine.operations.cost.table import COST_DAILY_SPEC
from market_spine.operations.retention import PRUNINGS_SPEC
from market_spine.options.catalog import OPTIONS_DATASETS
from market_spine.streaming.catalog import STREAMING_DATASETS
from market_spine.warehouse.catalog import WAREHOUSE_DATASETS
from market_spine.warehouse.model_catalog import model_datasets, warehouse_facts

CATALOG = Catalog.of(
    [
        *FUTURES_DATASETS,
        *STREAMING_DATASETS,
        *OPTIONS_DATASETS,
        *WAREHOUSE_DATASETS,
        *model_datasets(),
        *CERTIFICATION_DATASETS,
        PRUNINGS_SPEC,
        *COMPANY_DATASETS,
        CAPTURES_SPEC,
        COST_DAILY_SPEC,
    ]
)


def facts(lake: Lake, specs: list[DatasetSpec]) -> list[dict[str, Any]]:
    """Live facts of each dataset, in order: a lake table's from its Delta log, the dbt models'
    from the warehouse (one connection for them all)."""
    models = [s for s in specs if s.kind == "dbt"]
    in_warehouse = warehouse_facts(lake.local.parent, models) if models else {}
    return [in_warehouse[s.name] if s.kind == "dbt" else lake_facts(lake, s) for s in specs]


def last_materialization(
    instance: dg.DagsterInstance | None, spec: DatasetSpec
) -> dict[str, Any] | None:
    """The newest materialization of the dataset's asset: when (ISO-8601 UTC), by which run, and
    which partitions — the run's whole range (`first..last`) when it loaded several, not the
    one partition that happened to be recorded last."""
    if instance is None:
        return None
    event = instance.get_latest_materialization_event(dg.AssetKey(spec.asset_path))
    if event is None:
        return None
    materialization = event.asset_materialization
    partition = materialization.partition if materialization else None
    run = instance.get_run_by_id(event.run_id)
    tags = run.tags if run is not None else {}
    first = tags.get(ASSET_PARTITION_RANGE_START_TAG)
    last = tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if first and last:
        partition = first if first == last else f"{first}..{last}"
    return {
        "run_id": event.run_id,
        "at": datetime.fromtimestamp(event.timestamp, UTC).isoformat().replace("+00:00", "Z"),
        "partition": partition,
    }


def entry(spec: DatasetSpec) -> dict[str, Any]:
    """The declared part of an entry, JSON-ready."""
    return {
        "name": spec.name,
        "layer": spec.layer,
        "kind": spec.kind,
        "description": spec.description,
        "owner": spec.owner,
        "grain": spec.grain,
        "partitioning": spec.partitioning,
        "schema_version": spec.schema_version,
        "schema_history": [
            {"version": h.version, "since": h.since.isoformat(), "change": h.change}
            for h in spec.history
        ],
        "upstream": list(spec.upstream),
        "written_by": spec.written_by,
        "columns": [
            {"name": c.name, "type": c.type_name, "description": c.description}
            for c in spec.columns
        ],
        "masked_columns": dict(spec.pii),
        "tenant_column": spec.tenant_column,
    }


def describe(name: str, lake: Lake, instance: dg.DagsterInstance | None = None) -> dict[str, Any]:
    """A dataset's entry plus its live facts: rows, newest partition and data time, Delta
    version, last commit and last materialization."""
    (found,) = describe_all(lake, instance, [CATALOG.get(name)])
    return found


def describe_all(
    lake: Lake,
    instance: dg.DagsterInstance | None = None,
    specs: list[DatasetSpec] | None = None,
) -> list[dict[str, Any]]:
    """`describe` for many datasets (default: all), reading the warehouse once."""
    specs = list(CATALOG) if specs is None else specs
    described = []
    for spec, live in zip(specs, facts(lake, specs), strict=True):
        live.pop("columns_in_table", None)
        live["last_materialization"] = last_materialization(instance, spec)
        described.append({**entry(spec), "facts": live})
    return described


def undeclared(lake: Lake) -> list[str]:
    """Tables in the lake that the catalog does not describe (each one is a bug)."""
    return [name for name in lake.datasets() if name not in CATALOG]


def drift(lake: Lake) -> dict[str, str]:
    """Catalogued tables whose stored columns differ from their declaration: name → what differs
    (column names and order; types compared by kind, since Delta stores timestamps in µs)."""
    found: dict[str, str] = {}
    for spec in CATALOG:
        if spec.kind != "delta" or not lake.exists(spec.name):
            continue
        # The lake's own column of journaled tables is no declared column, wherever the
        # table's growth left it.
        stored = {
            name: kind
            for name, kind in lake.snapshot(spec.name).empty.schema.items()
            if name != JOURNALED_AT
        }
        declared = [c.name for c in spec.columns]
        if list(stored) != declared:
            found[spec.name] = f"columns {list(stored)} stored, {declared} declared"
            continue
        for column in spec.columns:
            if stored[column.name].base_type() != column.dtype.base_type():
                found[spec.name] = (
                    f"{column.name} stored as {stored[column.name]}, declared {column.dtype}"
                )
    return found
