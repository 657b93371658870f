"""A run whose retry would fail the same way is not retried automatically: bad input (a ragged
CSV) and a failed blocking check leave `dagster/will_retry` false, as damaged lake data does,
and the owner is alerted at once; a transient fault is still retried. Real Dagster instance
with run retries on, the platform's executor, the alert sensor's evaluation delivering to a
real HTTP receiver on loopback."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import WILL_RETRY_TAG

from market_spine.catalog.registry import CATALOG
from market_spine.errors import InvalidInput
from market_spine.operations.alerts.engine import evaluate_home
from market_spine.operations.status import recent_failures
from market_spine.runs.metered_executor import metered_executor
from market_spine_tests.operations.alerts.receivers import HttpReceiver, alerting_home

CHAIN = dg.AssetKey(CATALOG.get("raw/spx_options_eod").asset_path)
RULES = """
[sinks.hook]
type = "webhook"
url = "{url}/alerts"

[[rules]]
name = "derivatives"
when = ["check_failed", "run_failed"]
owners = ["team:derivatives"]
sinks = ["hook"]
"""


class Capture(dg.Config):
    """How the capture fails: `ragged` input, a failed blocking `check`, or a `transient` fault."""

    failure: str


@dg.asset(
    key=CHAIN,
    check_specs=[dg.AssetCheckSpec("validity", asset=CHAIN, blocking=True)],
)
def chain(config: Capture) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    if config.failure == "ragged":
        raise InvalidInput(
            "spx_chain.csv line 3 has 7 fields, the header has 9: fix the file and load it again"
        )
    if config.failure == "transient":
        raise ConnectionError("ThetaTerminal closed the connection")
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="validity", passed=False, asset_key=CHAIN)


DEFS = dg.Definitions(
    assets=[chain], jobs=[dg.define_asset_job("capture", [chain])], executor=metered_executor
)


def capture_job() -> dg.JobDefinition:
    return DEFS.resolve_job_def("capture")


@pytest.fixture
def retrying(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(
        overrides={"run_retries": {"enabled": True, "max_retries": 2}},
        temp_dir=str(tmp_path),
    ) as inst:
        yield inst


def failed_run(instance: dg.DagsterInstance, failure: str) -> dg.DagsterRun:
    config = {"ops": {"raw__spx_options_eod": {"config": {"failure": failure}}}}
    job = dg.reconstructable(capture_job)
    with dg.execute_job(job, instance=instance, run_config=config) as result:
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
    assert run is not None
    return run


@pytest.fixture
def receiver(home: Path) -> Iterator[HttpReceiver]:
    with alerting_home(home, RULES) as got:
        yield got


def test_bad_input_and_a_blocking_check_are_not_retried_and_alert_at_once(
    home: Path, receiver: HttpReceiver, retrying: dg.DagsterInstance
) -> None:
    ragged = failed_run(retrying, "ragged")
    checked = failed_run(retrying, "check")
    assert ragged.tags.get(WILL_RETRY_TAG) == "false"
    assert checked.tags.get(WILL_RETRY_TAG) == "false"
    # `status` calls the same runs unsafe to retry, for the same reasons.
    failures = recent_failures(retrying, datetime.now(UTC))
    assert [f["retry_safe"] for f in failures] == [False, False]

    evaluate_home(home, retrying)
    by_kind = {b["kind"]: b for b in receiver.bodies()}
    assert set(by_kind) == {"run_failed", "check_failed"}
    assert by_kind["run_failed"]["run_id"] == ragged.run_id
    assert "line 3 has 7 fields" in by_kind["run_failed"]["summary"]
    assert by_kind["run_failed"]["owners"] == ["team:derivatives"]
    assert by_kind["check_failed"]["run_id"] == checked.run_id


def test_a_transient_fault_is_still_retried(retrying: dg.DagsterInstance) -> None:
    assert failed_run(retrying, "transient").tags.get(WILL_RETRY_TAG) == "true"
