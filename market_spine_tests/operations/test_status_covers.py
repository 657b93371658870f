"""Which later successful run repairs a failed one: only a run that redid what it failed on; and
`retry --failed` plans only the failures no later run repaired, as `status` lists them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import make_new_run_id

from market_spine.operations.retry import _covers, failed_since

ASSET_JOB = "__ASSET_JOB"


def _run(instance: dg.DagsterInstance, dataset: str, status: dg.DagsterRunStatus) -> DagsterRun:
    run = DagsterRun(
        job_name=ASSET_JOB,
        run_id=make_new_run_id(),
        status=status,
        asset_selection=frozenset({dg.AssetKey(dataset.split("/"))}),
    )
    return instance.add_run(run)


def test_a_later_run_of_another_dataset_does_not_cover_a_failed_one() -> None:
    """Company runs share one job and no span: a later success of an unrelated dataset left a
    failed one listed as repaired; only a success of the same dataset covers it."""
    with dg.DagsterInstance.ephemeral() as instance:
        failed = _run(instance, "company/fundamentals", dg.DagsterRunStatus.FAILURE)
        other = _run(instance, "company/profiles", dg.DagsterRunStatus.SUCCESS)
        assert not _covers(instance, other, failed)
        again = _run(instance, "company/fundamentals", dg.DagsterRunStatus.SUCCESS)
        assert _covers(instance, again, failed)


def test_retry_failed_plans_only_the_failures_no_later_run_repaired() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        since = datetime.now(UTC) - timedelta(hours=1)
        repaired = _run(instance, "company/fundamentals", dg.DagsterRunStatus.FAILURE)
        unrepaired = _run(instance, "company/profiles", dg.DagsterRunStatus.FAILURE)
        time.sleep(0.01)  # the repair is created after the failure
        _run(instance, "company/fundamentals", dg.DagsterRunStatus.SUCCESS)
        assert failed_since(instance, since) == [unrepaired.run_id]
        assert repaired.run_id not in failed_since(instance, since)
