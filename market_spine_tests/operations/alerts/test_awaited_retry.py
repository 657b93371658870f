"""A failed run the daemon means to retry (`dagster/will_retry` true) is alerted once it is
clear the retry will not come: the daemon could not launch it (Dagster's own retry code, as
when its code location was loaded before a dataset was added), or nothing was launched within
the daemon's window; a launched retry is left to alert on its own outcome. Real Dagster
instance with run retries on, real HTTP receiver on loopback."""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from dagster._core.errors import DagsterInvalidSubsetError
from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, WILL_RETRY_TAG
from dagster._daemon.auto_run_reexecution.auto_run_reexecution import (
    consume_new_runs_for_automatic_reexecution,
)

from market_spine.catalog.registry import CATALOG
from market_spine.errors import ProviderError
from market_spine.operations.alerts.engine import evaluate_home
from market_spine_tests.operations.alerts.receivers import HttpReceiver, alerting_home

CHAIN = dg.AssetKey(CATALOG.get("raw/spx_options_eod").asset_path)
RULES = """
[sinks.hook]
type = "webhook"
url = "{url}/alerts"

[[rules]]
name = "derivatives"
when = ["run_failed"]
owners = ["team:derivatives"]
sinks = ["hook"]
"""
SUBSET = (
    "AssetKey(s) ['raw/spx_options_eod'] were selected, but no AssetsDefinition objects supply "
    "these keys. Make sure all keys are spelled correctly, and all AssetsDefinitions are "
    "correctly added to the `Definitions`."
)


@dg.asset(key=CHAIN)
def chain() -> None:
    raise ProviderError("ThetaTerminal answered 503 for SPX 2024-03-05; is it running?")


@pytest.fixture
def retrying() -> Iterator[dg.DagsterInstance]:
    retries = {"run_retries": {"enabled": True, "max_retries": 2}}
    with dg.instance_for_test(overrides=retries) as instance:
        yield instance


@pytest.fixture
def receiver(home: Path) -> Iterator[HttpReceiver]:
    with alerting_home(home, RULES) as got:
        yield got


def failed(instance: dg.DagsterInstance) -> dg.DagsterRun:
    result = dg.materialize([chain], instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and run.tags.get(WILL_RETRY_TAG) == "true"
    return run


def daemon_retries(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """The retry daemon's pass over `run` with a workspace whose code location lacks its
    asset: Dagster's own handling logs the failure in the run and gives the retry up."""

    def workspace() -> None:
        raise DagsterInvalidSubsetError(SUBSET)

    context = SimpleNamespace(instance=instance, create_request_context=workspace)
    record = instance.get_run_record_by_id(run.run_id)
    log = logging.getLogger("retry daemon")
    for _ in consume_new_runs_for_automatic_reexecution(context, [record], log):  # type: ignore[arg-type, list-item]
        pass


def test_a_retry_the_daemon_could_not_launch_alerts_the_owner(
    home: Path, receiver: HttpReceiver, retrying: dg.DagsterInstance
) -> None:
    run = failed(retrying)
    evaluate_home(home, retrying)  # the retry is to come: nothing yet
    assert receiver.bodies() == []
    daemon_retries(retrying, run)
    evaluate_home(home, retrying)
    evaluate_home(home, retrying)  # alerted once
    (alert,) = receiver.bodies()
    assert (alert["kind"], alert["run_id"], alert["owners"]) == (
        "run_failed",
        run.run_id,
        ["team:derivatives"],
    )
    assert "ThetaTerminal answered 503" in alert["summary"]
    assert "the automatic retry failed: DagsterInvalidSubsetError" in alert["summary"]


def test_a_retry_never_launched_alerts_after_the_daemon_window(
    home: Path, receiver: HttpReceiver, retrying: dg.DagsterInstance
) -> None:
    run = failed(retrying)
    evaluate_home(home, retrying)
    evaluate_home(home, retrying, now=datetime.now(UTC) + timedelta(minutes=3))
    (alert,) = receiver.bodies()
    assert alert["run_id"] == run.run_id
    assert "no automatic retry was launched within 120 s" in alert["summary"]


def test_a_launched_retry_leaves_the_alert_to_the_retry(
    home: Path, receiver: HttpReceiver, retrying: dg.DagsterInstance
) -> None:
    run = failed(retrying)
    evaluate_home(home, retrying)
    retrying.add_run_tags(run.run_id, {AUTO_RETRY_RUN_ID_TAG: "a-retry"})
    evaluate_home(home, retrying, now=datetime.now(UTC) + timedelta(minutes=3))
    assert receiver.bodies() == []
