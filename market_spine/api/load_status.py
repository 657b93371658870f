"""Did the last load of any dataset fail? Asked of the home's Dagster instance, per catalogued
asset and partition, for `/readyz`: a partition whose last planned materialization died with
its run, and that no later materialization repaired, makes the API not ready (it would serve
data the platform knows is incomplete).
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


class LoadStatus:
    """The `loads` readiness probe, answered from the home's instance at most every TTL_S."""

    def __init__(self, open_instance: Callable[[], Any], asset_paths: Callable[[], list]) -> None:
        self._open_instance = open_instance
        self._asset_paths = asset_paths
        self._instance: Any = None
        self._lock = threading.Lock()
        self._cached: tuple[float, Probe] | None = None

    def probe(self) -> Probe:
        """Whether every catalogued asset's last load succeeded, naming those that did not."""
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < TTL_S:
                return self._cached[1]
            found = self._ask()
            self._cached = (time.monotonic(), found)
            return found

    def _ask(self) -> Probe:
        try:
            if self._instance is None:
                self._instance = self._open_instance()
            if self._instance is None:
                return Probe(True, "no Dagster instance yet: nothing has been loaded")
            failed = unrepaired_failures(self._instance, self._asset_paths())
        except Exception as exc:  # a probe reports, it never raises
            return Probe(False, f"the Dagster instance could not be asked: {type(exc).__name__}")
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
