"""The home's Prometheus metrics on a real home: the freshness lag of each dataset and symbol
and the check results by severity from the latest evaluations, run outcomes, durations and rows
from the run records (each run counted once, however often it is read), missed ticks and disk;
over real HTTP, a scrape answered from the 15-second cache."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from market_spine.api.app import create_app
from market_spine.futures import definitions as futures
from market_spine.home import existing_instance
from market_spine.home import instance as home_instance
from market_spine.operations import definitions as operations
from market_spine.operations.freshness import freshness_job
from market_spine.operations.metrics import HomeMetrics
from market_spine.operations.run_tally import RunTally
from market_spine.options import definitions as options
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import resources
from market_spine_tests.kit.api import serving, serving_app
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import DAY, run_days, unreachable_ib

BARS = "normalized/futures_bars_1m"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition: (name, labels) → value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def scrape(home: Path) -> Samples:
    """One scrape of the home's collector, as the API's registry makes it."""
    registry = CollectorRegistry()
    registry.register(
        HomeMetrics(settings_for(home), lambda: existing_instance(settings_for(home)))
    )
    return samples(generate_latest(registry).decode())


@pytest.fixture(scope="module")
def busy_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose CL day loaded with spikes (its anomalies check fails), whose ES day failed
    (IB unreachable), and whose freshness SLA was judged the next day with nothing captured."""
    home = tmp_path_factory.mktemp("metrics") / "home"
    settings = settings_for(home)
    run_days(home, "CL", DAY, market=MarketDataResource(defects=["spikes"]))
    run_days(home, "ES", DAY, market=unreachable_ib())
    defs = dg.Definitions.merge(
        futures.build_definitions(settings),
        options.build_definitions(settings),
        operations.build_definitions(settings),
        dg.Definitions(
            resources=resources(settings, MarketDataResource(frozen_now="2024-03-06T17:00:00Z"))
        ),
    )
    defs.resolve_job_def(freshness_job.name).execute_in_process(instance=home_instance(settings))
    return home


def test_freshness_checks_and_runs_of_a_real_home(busy_home: Path) -> None:
    found = scrape(busy_home)
    # CL was stale when judged: its lag is the check's, in seconds.
    lag = value(found, "market_spine_freshness_lag_seconds", dataset=BARS, symbol="CL")
    assert lag is not None and lag > 3600
    assert value(found, "market_spine_freshness_stale", dataset=BARS, symbol="CL") == 1
    assert value(found, "market_spine_freshness_sla_seconds", dataset=BARS) == 3600
    judged = value(
        found, "market_spine_freshness_evaluated_timestamp_seconds", dataset=BARS, symbol="CL"
    )
    assert judged is not None and abs(judged - datetime.now(UTC).timestamp()) < 600
    # The spiky day's anomalies check failed for its one partition; others passed.
    failing = {
        dict(labels)["check"]: (dict(labels)["severity"], v)
        for (name, labels), v in found.items()
        if name == "market_spine_check_partitions_failing"
    }
    assert failing["anomalies"][1] == 1
    assert failing["anomalies"][0] in ("critical", "error", "warning")
    passing = [
        v for (name, _), v in found.items() if name == "market_spine_check_partitions_passing"
    ]
    assert sum(passing) >= 1
    # Three runs finished: the CL load, the failed ES load, the freshness job.
    finished = {
        (dict(labels)["job"], dict(labels)["status"]): v
        for (name, labels), v in found.items()
        if name == "market_spine_runs_finished_total"
    }
    assert finished == {
        ("__ASSET_JOB", "SUCCESS"): 1,
        ("__ASSET_JOB", "FAILURE"): 1,
        ("futures_freshness", "SUCCESS"): 1,
    }
    durations = sum(
        v for (name, _), v in found.items() if name == "market_spine_run_duration_seconds_count"
    )
    assert durations == 3
    rows = [v for (name, _), v in found.items() if name == "market_spine_run_rows_written_total"]
    assert rows and sum(rows) > 1000  # a day of CL minute bars, and their captures
    assert value(found, "market_spine_run_failures_open") == 1
    assert value(found, "market_spine_runs_active", status="STARTED") == 0
    assert value(found, "market_spine_instance_up") == 1
    parts = {
        dict(labels)["part"]: v
        for (name, labels), v in found.items()
        if name == "market_spine_metrics_part_ok"
    }
    assert parts == {"disk": 1, "freshness": 1, "checks": 1, "runs": 1, "ticks": 1}
    assert sum(v for (n, _), v in found.items() if n == "market_spine_disk_free_bytes") > 0


def test_each_finished_run_is_counted_once(busy_home: Path) -> None:
    instance = home_instance(settings_for(busy_home))
    tally = RunTally()
    now = datetime.now(UTC)
    assert tally.update(instance, now) == 3
    assert tally.update(instance, now) == 0  # read again within the overlap: not recounted
    run_days(busy_home, "CL", DAY)
    assert tally.update(instance, datetime.now(UTC)) == 1
    assert sum(tally.finished.values()) == 4


def test_a_backlog_is_read_over_several_updates(busy_home: Path) -> None:
    instance = home_instance(settings_for(busy_home))
    finished = len(
        instance.get_run_records(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE])
        )
    )
    tally = RunTally(page=1, per_update=2)
    now = datetime.now(UTC)
    counted = [tally.update(instance, now) for _ in range(finished)]
    assert counted[:2] == [2, 2] and sum(counted) == finished
    assert sum(tally.finished.values()) == finished


def test_a_home_without_an_instance_says_so(tmp_path: Path) -> None:
    found = scrape(tmp_path / "home")
    assert value(found, "market_spine_instance_up") == 0
    assert value(found, "market_spine_metrics_part_ok", part="disk") == 1


def test_a_scrape_over_http_is_answered_from_the_cache(busy_home: Path) -> None:
    """After the CL load of the test above, whose in-run freshness check judged only its own
    (past) partition: CL's verdict still comes from the schedule's evaluation that judged it."""
    with serving(busy_home) as api:
        first = api.get("/metrics")
        second = api.get("/metrics")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain")
    one, two = samples(first.text), samples(second.text)
    assert value(one, "market_spine_freshness_stale", dataset=BARS, symbol="CL") == 1
    took = value(one, "market_spine_metrics_compute_seconds")
    assert took is not None and took == value(two, "market_spine_metrics_compute_seconds")
    # The first scrape's latency is recorded under the route's template.
    assert (
        value(
            two,
            "market_spine_api_requests_total",
            route="/metrics",
            method="GET",
            status="200",
        )
        == 1
    )


def test_the_first_scrape_finds_the_metrics_computed_at_start(busy_home: Path) -> None:
    """The API computes the home's metrics when it starts, off the request path: the first
    scrape is answered from that computation, as fast as any scrape inside the cache."""
    app = create_app(settings_for(busy_home))
    home = app.state.home_metrics
    with serving_app(app) as api:
        assert home.warmed.wait(60), "the metrics were not computed at start"
        computed_at = home._computed_at
        first = api.get("/metrics")
    assert first.status_code == 200
    assert home._computed_at == computed_at  # answered from the start's computation
    assert value(samples(first.text), "market_spine_instance_up") == 1
