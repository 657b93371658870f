"""Did the last load of any dataset fail? Asked of the home's Dagster instance, per catalogued
asset and partition, for `/readyz`: a partition whose last planned materialization died with
its run, and that no later materialization repaired, makes the API's readiness `degraded` (it
still serves what the lake holds, and operators see which loads failed).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from dagster import DagsterRunStatus

from market_spine.api.routes_health import Probe

FAILURE, CANCELED = DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED

#: An orchestrator polls readiness every few seconds; the instance is asked at most this often.
TTL_S = 5.0
#: Planned materializations looked at per asset: a backfill's worth of partitions.
RECENT_PLANS = 500


def unrepaired_failures(instance: Any, asset_paths: list[list[str]]) -> dict[str, list[str]]:
    """Asset name → partitions (`-` for unpartitioned) whose newest planned materialization
    belongs to a run that failed or was canceled, with no materialization since."""
    import dagster as dg

    keys = [dg.AssetKey(path) for path in asset_paths]
    failed: dict[str, list[str]] = {}
    for record in instance.get_asset_records(keys):
        entry = record.asset_entry
        if entry.last_run_id is None:
            continue  # never planned: nothing to have failed
        key = entry.asset_key
        with warnings.catch_warnings():
            # Deprecated for 2.0 with no replacement yet in 1.x's public API.
            warnings.simplefilter("ignore", DeprecationWarning)
            planned = instance.fetch_planned_materializations(
                dg.AssetRecordsFilter(asset_key=key), limit=RECENT_PLANS
            ).records
        newest_plan: dict[str | None, tuple[int, str]] = {}
        for event in planned:  # newest first
            newest_plan.setdefault(event.partition_key, (event.storage_id, event.run_id))
        after = min(storage_id for storage_id, _ in newest_plan.values()) - 1
        done: dict[str | None, int] = {}
        for event in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=RECENT_PLANS * 4
        ).records:
            done[event.partition_key] = max(done.get(event.partition_key, 0), event.storage_id)
        # A plan without a partition (unpartitioned, or a range run) is repaired by any
        # materialization after it.
        anything = max(done.values(), default=0)
        pending = {
            p: run
            for p, (sid, run) in newest_plan.items()
            if (done.get(p, 0) if p is not None else anything) < sid
        }
        if not pending:
            continue
        runs = instance.get_runs(dg.RunsFilter(run_ids=sorted(set(pending.values()))))
        dead = {r.run_id for r in runs if r.status in (FAILURE, CANCELED)}
        still = sorted(p or "-" for p, run in pending.items() if run in dead)
        if still:
            failed[key.to_user_string()] = still
    return failed


def failed_warehouse_build(instance: Any, model_paths: list[list[str]]) -> str | None:
    """Why the newest warehouse build failed, or None when it did not (or none ran yet).

    The newest build is the newest run that planned any warehouse model; a build that failed
    or was canceled leaves the marts as an older build made them, whatever its models did."""
    import dagster as dg

    from market_spine.runs.outcome import failure_cause

    newest: tuple[int, str] | None = None
    for path in model_paths:
        info = instance.get_latest_planned_materialization_info(dg.AssetKey(path))
        if info is not None and (newest is None or info.storage_id > newest[0]):
            newest = (info.storage_id, info.run_id)
    if newest is None:
        return None
    run = instance.get_run_by_id(newest[1])
    if run is None or run.status not in (FAILURE, CANCELED):
        return None
    cause = failure_cause(instance, run.run_id) or run.status.value.lower()
    return (
        f"the last warehouse build (run {run.run_id[:8]}) failed: {cause}; rebuild it with "
        "`market-spine process --domain warehouse` or re-execute the run in the Dagster UI"
    )


class LoadStatus:
    """The `loads` and `warehouse` readiness probes, answered from the home's instance at most
    every TTL_S."""

    def __init__(
        self,
        open_instance: Callable[[], Any],
        asset_paths: Callable[[], list],
        model_paths: Callable[[], list] = list,
    ) -> None:
        self._open_instance = open_instance
        self._asset_paths = asset_paths
        self._model_paths = model_paths
        self._instance: Any = None
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, Probe]] = {}

    def probe(self) -> Probe:
        """Whether every catalogued asset's last load succeeded, naming those that did not."""
        return self._answer("loads", "nothing has been loaded", self._judge_loads)

    def probe_warehouse(self) -> Probe:
        """Whether the newest warehouse build succeeded, with its cause when it did not."""
        return self._answer("warehouse", "no warehouse build", self._judge_warehouse)

    def _answer(self, name: str, without: str, judge: Callable[[Any], Probe]) -> Probe:
        """`judge`'s verdict on the instance (kept TTL_S); ready when there is no instance."""
        with self._lock:
            cached = self._cached.get(name)
            if cached and time.monotonic() - cached[0] < TTL_S:
                return cached[1]
            try:
                instance = self._opened()
                found = (
                    judge(instance)
                    if instance is not None
                    else Probe(True, f"no Dagster instance yet: {without}")
                )
            except Exception as exc:  # a probe reports, it never raises
                found = Probe(
                    False, f"the Dagster instance could not be asked: {type(exc).__name__}"
                )
            self._cached[name] = (time.monotonic(), found)
            return found

    def _opened(self) -> Any:
        if self._instance is None:
            self._instance = self._open_instance()
        return self._instance

    def _judge_warehouse(self, instance: Any) -> Probe:
        failed = failed_warehouse_build(instance, self._model_paths())
        return Probe(False, failed) if failed else Probe(True, "the last warehouse build succeeded")

    def _judge_loads(self, instance: Any) -> Probe:
        failed = unrepaired_failures(instance, self._asset_paths())
        if not failed:
            return Probe(True, "the last load of every dataset succeeded")
        named = "; ".join(
            f"{asset} ({', '.join(parts[:5])}{', ...' if len(parts) > 5 else ''})"
            for asset, parts in sorted(failed.items())
        )
        return Probe(
            False,
            f"the last load failed for {named}: see the failed runs in the Dagster UI and "
            "re-execute them (or run `market-spine process` for those dates)",
        )
