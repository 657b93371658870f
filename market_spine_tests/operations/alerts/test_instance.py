"""Alerts through a real Dagster instance: real runs of assets declared like the platform's
(catalog entry, `CheckDef`s judged per partition), evaluated by the alert sensor and delivered
to a real HTTP receiver on loopback."""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange
from dagster._core.scheduler.instigation import (
    TickStatus,
)
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import make_new_run_id
from dagster._utils.error import SerializableErrorInfo
from ib_async import RequestError

from market_spine.catalog.dagster_metadata import dataset_asset
from market_spine.catalog.registry import CATALOG
from market_spine.check_kit import CheckDef, CheckOutcome, check_result, partition_checks
from market_spine.definitions import shared_resources
from market_spine.errors import ProviderError
from market_spine.futures import freshness as bars_sla
from market_spine.futures import keys as futures_keys
from market_spine.operations import definitions as operations
from market_spine.operations.alerts.engine import evaluate_home
from market_spine.operations.alerts.runs import RUNS_PER_EVALUATION
from market_spine.operations.alerts.sensor import build_alerts_sensor
from market_spine.operations.alerts.store import AlertStore
from market_spine.operations.alerts.ticks import ScheduleInfo
from market_spine.providers.ib import error_for
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.schedules import add_tick, running_schedule, schedule_origin
from market_spine_tests.operations.alerts.receivers import (
    HttpReceiver,
    alerting_home,
    smtp_receiver,
)

CHAIN = CATALOG.get("raw/spx_options_eod")
CHAIN_KEY = dg.AssetKey(CHAIN.asset_path)
DAYS = dg.StaticPartitionsDefinition(["2024-03-04", "2024-03-05"])
VALIDITY: CheckDef[bool] = CheckDef(
    "validity",
    "Rows match the schema.",
    lambda ok: CheckOutcome(ok, {"bad_rows": 0 if ok else 3}),
    blocking=True,
)


class Chain(dg.Config):
    """Which partitions of the run load bad rows; whether the capture hits IB pacing or fails."""

    bad: list[str] = []  # noqa: RUF012 (a dagster Config copies its defaults)
    pacing: bool = False
    fail: bool = False


@dataset_asset(CHAIN, (VALIDITY,), DAYS, group_name="options")
def chain(
    context: dg.AssetExecutionContext, config: Chain
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """A capture judged by a blocking check per partition, as the platform's assets are."""
    if config.pacing:
        what = "SPX chain 2024-03-05"
        violation = error_for(
            RequestError(7, 162, "Historical data request pacing violation"), what
        )
        # The IB provider's own retry line, through a logger the instance records.
        logging.getLogger("market_spine.providers.ib").warning(
            "IB %s: attempt %d failed (%s); retrying", what, 1, violation
        )
    if config.fail:
        raise ProviderError("ThetaTerminal answered 503 for SPX 2024-03-05; is it running?")
    yield dg.MaterializeResult()
    verdicts = {
        k: {"validity": VALIDITY.evaluate(k not in config.bad)} for k in context.partition_keys
    }
    yield from partition_checks(context, CHAIN_KEY, (VALIDITY,), verdicts)


@dg.asset(
    key=futures_keys.NORMALIZED_BARS,
    check_specs=[
        dg.AssetCheckSpec(bars_sla.FRESHNESS_CHECK.name, asset=futures_keys.NORMALIZED_BARS)
    ],
)
def bars(config: Chain) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """The real freshness SLA verdict: CL's newest bar is 95 minutes old, ES's 3 (or both
    fresh when `config.bad` is empty)."""
    now = datetime(2024, 3, 5, 16, 0, tzinfo=UTC)
    newest = {
        "CL": now - timedelta(minutes=95 if config.bad else 2),
        "ES": now - timedelta(minutes=3),
    }
    yield dg.MaterializeResult()
    outcome = bars_sla.FRESHNESS_CHECK.evaluate(
        bars_sla.NewestBars(now, bars_sla.sessions_owed(newest, now), newest)
    )
    yield check_result(futures_keys.NORMALIZED_BARS, bars_sla.FRESHNESS_CHECK.name, outcome)


UNREACHABLE = SerializableErrorInfo(
    "Could not reach the user code server: the code location is down", [], "Unreachable"
)

RULES = """
dagster_url = "http://127.0.0.1:3000"

[sinks.hook]
type = "webhook"
url = "{url}/alerts"

[[rules]]
name = "derivatives"
when = ["check_failed", "run_failed", "pacing", "freshness", "missed_tick"]
owners = ["team:derivatives", "team:market-data"]
sinks = ["hook"]
"""


@pytest.fixture
def receiver(home: Path) -> Iterator[HttpReceiver]:
    with alerting_home(home, RULES) as got:
        yield got


@pytest.fixture
def logged_instance() -> Iterator[dg.DagsterInstance]:
    """A real instance recording the platform's library logs in each run, as dagster.yaml says."""
    overrides = {"python_logs": {"managed_python_loggers": ["market_spine"]}}
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


def tick(home: Path, instance: dg.DagsterInstance) -> str:
    """One evaluation of the alert sensor as the daemon runs it; its skip message."""
    defs = dg.Definitions(assets=[chain, bars], sensors=[build_alerts_sensor(settings_for(home))])
    repository = defs.get_repository_def()
    context = dg.build_sensor_context(instance=instance, repository_def=repository)
    data = repository.get_sensor_def("alert_routing").evaluate_tick(context)
    assert not data.run_requests
    return str(data.skip_message)


def run(instance: dg.DagsterInstance, partition: str, **config: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [chain],
        instance=instance,
        partition_key=partition,
        run_config={"ops": {"raw__spx_options_eod": {"config": config}}},
        raise_on_error=False,
    )


def test_a_failing_check_in_a_real_run_alerts_once_and_resolves(
    state_home: Path, receiver: HttpReceiver, instance: dg.DagsterInstance
) -> None:
    home = state_home
    failed = run(instance, "2024-03-05", bad=["2024-03-05"])
    assert not failed.success  # the check is blocking: it fails the run
    # One alert: the failed check; the run's failure is that check's, not another condition.
    assert "1 alerts opened" in tick(home, instance)
    run(instance, "2024-03-05", bad=["2024-03-05"])  # the same failure again
    assert "0 alerts opened" in tick(home, instance)
    tick(home, instance)  # nothing new
    (opened,) = receiver.bodies()
    assert opened["status"] == "open"
    assert opened["kind"] == "check_failed"
    assert opened["severity"] == "critical"  # the check is blocking
    assert opened["subject"] == "raw/spx_options_eod:validity"
    assert opened["partition"] == "2024-03-05"
    assert opened["owners"] == ["team:derivatives"]
    assert opened["details"]["bad_rows"] == 3
    assert opened["run_id"] == failed.run_id
    assert opened["link"] == f"http://127.0.0.1:3000/runs/{failed.run_id}"
    (alert,) = AlertStore(home).open_alerts()
    assert alert.occurrences == 2

    run(instance, "2024-03-05")
    assert "1 resolved" in tick(home, instance)
    resolve = receiver.bodies()[-1]
    assert (resolve["status"], resolve["alert_id"]) == ("resolve", opened["alert_id"])
    assert AlertStore(home).open_alerts() == []


MAIL_RULES = """
[sinks.mail]
type = "email"
host = "{host}"
port = {port}
sender = "spine@example.com"
to = ["derivatives@example.com"]

[[rules]]
name = "derivatives"
when = ["check_failed"]
owners = ["team:derivatives"]
sinks = ["mail"]
"""


def test_a_burst_of_finished_runs_does_not_stop_alerting(
    home: Path, instance: dg.DagsterInstance
) -> None:
    done = dg.DagsterRunStatus.SUCCESS
    # More runs finished within the overlap than one page holds: every page of an evaluation
    # after the first starts with runs already read.
    for _ in range(RUNS_PER_EVALUATION + 12):
        instance.add_run(DagsterRun("burst", run_id=make_new_run_id(), status=done))
    with smtp_receiver() as mail:
        home.mkdir()
        (home / "alerts.toml").write_text(MAIL_RULES.format(host=mail.host, port=mail.port))
        assert tick(home, instance).startswith(f"{2 * RUNS_PER_EVALUATION + 1} observations")
        tick(home, instance)
        failed = run(instance, "2024-03-05", bad=["2024-03-05"])
        assert "1 alerts opened" in tick(home, instance)
        assert "0 alerts opened" in tick(home, instance)  # read once, alerted once
    (message,) = mail.messages
    assert message["Subject"].startswith("[CRITICAL] check raw/spx_options_eod:validity")
    assert failed.run_id in message.get_content()


def test_a_failed_run_and_a_pacing_violation_alert_and_clear(
    home: Path, receiver: HttpReceiver, logged_instance: dg.DagsterInstance
) -> None:
    failed = run(logged_instance, "2024-03-04", pacing=True, fail=True)
    assert not failed.success
    tick(home, logged_instance)
    by_kind = {b["kind"]: b for b in receiver.bodies()}
    assert set(by_kind) == {"run_failed", "pacing"}
    failure = by_kind["run_failed"]
    assert failure["subject"] == "assets raw/spx_options_eod"
    assert failure["partition"] == "2024-03-04"
    assert "ThetaTerminal answered 503" in failure["summary"]
    assert failure["owners"] == ["team:derivatives"]
    pacing = by_kind["pacing"]
    assert pacing["severity"] == "warning"
    assert "pacing violation" in pacing["summary"]

    assert run(logged_instance, "2024-03-04").success
    tick(home, logged_instance)
    resolved = [b for b in receiver.bodies() if b["status"] == "resolve"]
    assert {b["kind"] for b in resolved} == {"run_failed", "pacing"}


def test_the_freshness_sla_alerts_per_stale_symbol(
    home: Path, receiver: HttpReceiver, instance: dg.DagsterInstance
) -> None:
    dg.materialize(
        [bars],
        instance=instance,
        run_config={"ops": {"normalized__futures_bars_1m": {"config": {"bad": ["CL"]}}}},
    )
    tick(home, instance)
    (stale,) = receiver.bodies()
    assert (stale["kind"], stale["subject"], stale["partition"]) == (
        "freshness",
        "normalized/futures_bars_1m",
        "CL",
    )
    assert "newest bar is 95.0 min old (SLA 60 min)" in stale["summary"]
    assert stale["owners"] == ["team:market-data"]

    dg.materialize(
        [bars],
        instance=instance,
        run_config={"ops": {"normalized__futures_bars_1m": {"config": {}}}},
    )
    tick(home, instance)
    assert [b["status"] for b in receiver.bodies()] == ["open", "resolve"]


def test_a_freshness_policy_breach_alerts_until_it_passes(
    home: Path, receiver: HttpReceiver, instance: dg.DagsterInstance
) -> None:
    def change(new: FreshnessState, old: FreshnessState) -> None:
        # What the freshness daemon records when an asset's state changes.
        instance._report_runless_asset_event(
            FreshnessStateChange(
                key=CHAIN_KEY,
                new_state=new,
                previous_state=old,
                state_change_timestamp=datetime.now(UTC).timestamp(),
            )
        )

    change(FreshnessState.FAIL, FreshnessState.PASS)
    tick(home, instance)
    change(FreshnessState.PASS, FreshnessState.FAIL)
    tick(home, instance)
    opened, resolved = receiver.bodies()
    assert opened["summary"] == "raw/spx_options_eod freshness policy FAIL (was PASS)"
    assert (opened["severity"], resolved["status"]) == ("error", "resolve")


def test_missed_and_failed_schedule_ticks(
    home: Path, receiver: HttpReceiver, instance: dg.DagsterInstance
) -> None:
    now = datetime(2024, 3, 5, 14, 10, tzinfo=UTC)
    state = running_schedule(
        instance, schedule_origin("options_capture"), "*/15 * * * *", now - timedelta(hours=1)
    )
    schedule = ScheduleInfo(
        "options_capture", "*/15 * * * *", "UTC", False, ("raw/spx_options_eod",)
    )

    def evaluate(at: datetime) -> None:
        evaluate_home(home, instance, schedules=[schedule], now=at)

    add_tick(instance, state, datetime(2024, 3, 5, 13, 45, tzinfo=UTC))
    evaluate(now)  # 14:00 was due (with 5 minutes' grace) and never came
    add_tick(instance, state, datetime(2024, 3, 5, 14, 0, tzinfo=UTC))
    evaluate(now + timedelta(minutes=1))
    add_tick(instance, state, datetime(2024, 3, 5, 14, 15, tzinfo=UTC), TickStatus.FAILURE)
    evaluate(datetime(2024, 3, 5, 14, 21, tzinfo=UTC))
    missed, cleared, failed = receiver.bodies()
    assert missed["summary"] == (
        "schedule options_capture missed its tick due at 2024-03-05T14:00:00Z: "
        "is the daemon running?"
    )
    assert missed["owners"] == ["team:derivatives"]
    assert cleared["status"] == "resolve" and cleared["alert_id"] == missed["alert_id"]
    assert failed["status"] == "open"
    assert failed["summary"].startswith(
        "schedule options_capture tick at 2024-03-05T14:15:00Z failed"
    )


def test_the_operations_definitions_carry_the_alert_sensor(home: Path) -> None:
    settings = settings_for(home)
    defs = dg.Definitions.merge(
        operations.build_definitions(settings), dg.Definitions(resources=shared_resources(settings))
    )
    sensor = defs.get_repository_def().get_sensor_def("alert_routing")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        assert "alerting is off" in str(sensor.evaluate_tick(context).skip_message)


def test_a_bad_rules_file_skips_the_tick_with_the_fix(
    home: Path, instance: dg.DagsterInstance
) -> None:
    home.mkdir()
    (home / "alerts.toml").write_text(
        '[sinks.hook]\ntype = "webhook"\nurl = "http://x"\nretry = 1\n'
    )
    message = tick(home, instance)
    assert message.startswith("alerts not evaluated: ")
    assert "sinks.hook.retry: unknown key" in message
