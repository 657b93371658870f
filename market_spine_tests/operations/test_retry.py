"""Retrying a failed run re-executes it from its failure as a run of the code location, with
Dagster's parent and root ids; never while another run covers its partitions; within the
configured attempts."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, WILL_RETRY_TAG

from market_spine.audit.export import AuditFilter, entries_as_dicts
from market_spine.audit.recorder import flush_all
from market_spine.audit.store import AuditStore
from market_spine.fakes.tws import FakeTWS
from market_spine.home import instance as home_instance
from market_spine.operations.retry import RETRY_OF, max_attempts, plan_retry, reexecute
from market_spine.operations.run_history import run_detail
from market_spine.runs import provenance
from market_spine.runs.launch import create_run, domain_assets, execute
from market_spine.runs.location import location_origin
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import DAY, run_days, unreachable_ib
from market_spine_tests.kit.schedules import beat


def futures_run(home: Path, key: str) -> dg.DagsterRun:
    """A created (NOT_STARTED) futures run over partition `key`, as `market-spine process`
    creates it just before executing it: an active run in the instance."""
    settings = settings_for(home)
    keys = [k for a in domain_assets(settings, "futures") for k in a.keys]
    return create_run(settings, keys, instance=home_instance(settings), partition_range=(key, key))


def test_a_retry_repairs_the_failed_run_and_links_to_it(home: Path) -> None:
    market = unreachable_ib()
    failed = run_days(home, "CL", DAY, market=market)
    instance = home_instance(settings_for(home))
    plan = plan_retry(instance, failed.run_id)
    assert plan.ok and plan.attempts == 0 and plan.allowed == max_attempts(instance) == 2

    parent = instance.get_run_by_id(failed.run_id)
    assert parent is not None
    child = reexecute(instance, parent)
    assert child.parent_run_id == child.root_run_id == parent.run_id
    assert child.remote_job_origin is not None
    assert child.remote_job_origin.location_name == location_origin().location_name
    assert child.tags[RETRY_OF] == parent.run_id
    assert child.tags[provenance.LAUNCHED_FROM] == "retry"
    assert child.tags["market_spine/provider"] == "ib"  # the parent's settings, not the server's
    assert parent.run_id not in child.tags.get("market_spine/worker", "")
    flush_all()
    store = AuditStore(home, create=False)
    [audited] = entries_as_dicts(store, AuditFilter(action="run.retry"), 10)
    store.close()
    assert audited["params"]["run_id"] == child.run_id and audited["outcome"] == "retry"
    assert audited["params"]["tags"][RETRY_OF] == parent.run_id
    # The retry daemon sees the parent as already retried.
    refreshed = instance.get_run_by_id(parent.run_id)
    assert refreshed is not None and refreshed.tags[AUTO_RETRY_RUN_ID_TAG] == child.run_id

    with FakeTWS.running(port=market.ib_port):  # the gateway is back
        assert execute(instance, child).success
    again = plan_retry(instance, failed.run_id)
    assert again.verdict == "repaired" and again.run.run_id == child.run_id
    attempts = run_detail(instance, parent.run_id).attempts
    assert [a.status for a in attempts] == ["FAILURE", "SUCCESS"]


def test_a_retry_is_refused_while_a_run_covers_the_same_partition(home: Path) -> None:
    failed = run_days(home, "CL", DAY, market=unreachable_ib())
    instance = home_instance(settings_for(home))
    futures_run(home, f"{DAY}|ES")  # another symbol: no conflict
    assert plan_retry(instance, failed.run_id).ok
    running = futures_run(home, f"{DAY}|CL")
    plan = plan_retry(instance, failed.run_id, force=True)
    assert plan.verdict == "running" and plan.blocked_by == (running.run_id,)
    assert running.run_id[:8] in plan.reason


def test_a_run_the_daemon_is_about_to_retry_is_left_to_it(home: Path) -> None:
    failed = run_days(home, "CL", DAY, market=unreachable_ib())
    instance = home_instance(settings_for(home))
    instance.add_run_tags(failed.run_id, {WILL_RETRY_TAG: "true"})
    # No daemon beats: nobody will retry it, so the command may.
    assert plan_retry(instance, failed.run_id).ok
    beat(instance)
    plan = plan_retry(instance, failed.run_id, force=True)
    assert plan.verdict == "daemon retry" and not plan.ok
    assert "daemon is retrying" in plan.reason
    # Once the daemon's attempt is linked, the attempt itself is what is judged.
    instance.add_run_tags(failed.run_id, {AUTO_RETRY_RUN_ID_TAG: "not-yet-launched"})
    assert plan_retry(instance, failed.run_id).ok
