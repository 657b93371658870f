"""quality/check_results: every asset-check evaluation in the Dagster instance, appended to a
Delta table so that the warehouse (mart_data_quality) can report on them with plain SQL."""

# No `from __future__ import annotations`: Dagster checks the `context` annotation when the
# asset is defined, so annotations must stay real objects.
import json
from collections.abc import Iterable
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from dagster import DagsterEventType, EventRecordsFilter

from market_spine.catalog.dagster_metadata import catalog_metadata
from market_spine.company.catalog import configs as company_configs
from market_spine.company.tables import silver_table
from market_spine.futures import definitions as futures
from market_spine.lake.resource import LakeResource
from market_spine.options import definitions as options
from market_spine.warehouse.catalog import CHECK_RESULTS_SPEC
from market_spine.warehouse.tables import CHECK_RESULTS, CHECK_RESULTS_SCHEMA

CHECK_RESULTS_KEY = dg.AssetKey(CHECK_RESULTS.split("/"))
_OVERLAP_S = 1.0


def checked_assets(assets: Iterable[dg.AssetsDefinition]) -> tuple[dg.AssetKey, ...]:
    """The keys of the assets among `assets` that declare checks, in order, once each."""
    return tuple(dict.fromkeys(spec.asset_key for a in assets for spec in a.check_specs))


#: The company datasets' silver tables the package declares (their checks' severity and owner
#: travel in each evaluation's metadata). A home's own datasets are collected by the hourly tick.
COMPANY_CHECKED = tuple(dg.AssetKey(silver_table(c).split("/")) for c in company_configs())

#: The assets whose checks this collects, from the domains' definitions (every futures asset has
#: checks) and the company datasets: a new materialization (and its checks) triggers a
#: collection. dbt tests on the marts are picked up by the next run or the hourly tick. Not
#: `eager()`, which would wait until every one of them exists (options may never run).
CHECKED_ASSETS = (*futures.ASSET_KEYS, *checked_assets(options.ASSETS), *COMPANY_CHECKED)


def _evaluation_id(record: dg.EventLogRecord) -> str:
    return f"{record.event_log_entry.run_id}:{record.storage_id}"


def _rows(records: list[dg.EventLogRecord]) -> pa.Table:
    rows = []
    for record in records:
        entry = record.event_log_entry
        evaluation = entry.dagster_event.event_specific_data  # an AssetCheckEvaluation
        metadata = {k: v.value for k, v in evaluation.metadata.items()}
        rows.append(
            {
                "evaluation_id": _evaluation_id(record),
                "storage_id": record.storage_id,
                "evaluated_at": datetime.fromtimestamp(entry.timestamp, UTC),
                "run_id": entry.run_id,
                "asset_key": evaluation.asset_key.to_user_string(),
                "check_name": evaluation.check_name,
                "partition_key": evaluation.partition or "",
                "passed": evaluation.passed,
                "severity": evaluation.severity.value,
                "description": evaluation.description or "",
                "metadata_json": json.dumps(metadata, default=str, sort_keys=True),
            }
        )
    return pa.Table.from_pylist(rows, schema=CHECK_RESULTS_SCHEMA)


@dg.asset(
    key=CHECK_RESULTS_KEY,
    deps=list(CHECKED_ASSETS),
    group_name="quality",
    kinds={"delta", "pyarrow"},
    owners=[CHECK_RESULTS_SPEC.owner],
    metadata=catalog_metadata(CHECK_RESULTS_SPEC),
    automation_condition=(
        dg.AutomationCondition.any_deps_updated()
        | dg.AutomationCondition.cron_tick_passed("0 * * * *")
    )
    & ~dg.AutomationCondition.in_progress(),
    description=CHECK_RESULTS_SPEC.description,
)
def check_results(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Add the evaluations recorded since the newest one already in the table.

    SQLite instances shard the event log by run, where storage ids are not global and cursors
    are refused: new evaluations are found by timestamp (with a second of overlap) and told
    apart by `run_id:storage_id`.
    """
    store = lake.lake
    after, seen = None, set()
    if store.exists(CHECK_RESULTS):
        newest = store.read(CHECK_RESULTS, columns=["evaluated_at"])["evaluated_at"].max()
        if newest is not None:
            after = newest.timestamp() - _OVERLAP_S
            recent = store.read(
                CHECK_RESULTS,
                between={"evaluated_at": (datetime.fromtimestamp(after, UTC), newest)},
                columns=["evaluation_id"],
            )
            seen = set(recent["evaluation_id"].to_list())
    records = context.instance.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION, after_timestamp=after),
        ascending=True,
    )
    fresh = sum(1 for r in records if _evaluation_id(r) not in seen)
    if fresh:
        # The window's rows are replaced by every evaluation in it, not appended to: two
        # collections racing (a second process, a retry) then end with one copy of each, as
        # the lake's conflict-checked replacement keeps one writer's rows.
        window = _rows(records)
        times = window.column("evaluated_at")
        store.replace(
            CHECK_RESULTS,
            window,
            between={"evaluated_at": (pc.min(times).as_py(), pc.max(times).as_py())},
            metadata={"run_id": context.run_id},
        )
    return dg.MaterializeResult(metadata={"appended": fresh})
