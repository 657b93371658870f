"""The cost per day in the lake and its dbt mart: a real CLI run's usage and the lake's bytes are
recorded by day × component × dataset in `operations/cost_daily` (a refresh replaces its days, a
past day keeps the storage recorded on it); dbt builds `marts.fct_cost_daily` over it, with its
unit test; the catalog lists both; the daily job is declared."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from typer.testing import CliRunner

from market_spine.api.app import create_app
from market_spine.catalog.registry import CATALOG, drift
from market_spine.cli import app
from market_spine.errors import InvalidInput
from market_spine.lake.store import lake_at
from market_spine.operations.cost.daily import record_cost_daily
from market_spine.operations.cost.prices import PRICES_FILE, PriceSheet
from market_spine.operations.cost.table import COST_DAILY
from market_spine.runs import meter
from market_spine.warehouse.resource import WarehouseResource
from market_spine_tests.kit.api import auth_headers, serving_app
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import DAY, open_instance, run_days

#: $1 per CPU second, $30 per GB-month (so $1 per GB-day), a $30 monthly subscription ($1 a day).
PRICES = PriceSheet(vcpu_hour=3600.0, gb_month=30.0, subscriptions={"thetadata": 30.0})


def _elapsed(now: datetime) -> float:
    """The part of `now`'s UTC day gone by."""
    return (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 86400


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with one real CLI run of CL on DAY."""
    home = tmp_path_factory.mktemp("cost_daily") / "home"
    assert run_days(home, "CL", DAY).success
    return home


def test_the_days_are_recorded_and_a_refresh_replaces_them(home: Path) -> None:
    lake = lake_at(str(settings_for(home).lake_root))
    now = datetime.now(UTC)
    today = now.date()
    with open_instance(home) as instance:
        [run] = instance.get_runs()
        used = meter.usage(run.tags, run.run_id)
        assert used is not None
        first = record_cost_daily(instance, lake, list(CATALOG), home, PRICES, days=2, now=now)
        # The next day: yesterday's rows are recorded again, with the storage measured then.
        tomorrow = now + timedelta(days=1)
        record_cost_daily(instance, lake, list(CATALOG), home, PRICES, days=2, now=tomorrow)
        with pytest.raises(InvalidInput, match="at least one day"):
            record_cost_daily(instance, lake, list(CATALOG), home, PRICES, days=0)

    on_today = first.filter(pl.col("day") == today)
    assert on_today["compute_usd"].sum() == pytest.approx(used.cpu_s, rel=1e-6)
    # A local lake makes no object-store requests: none counted, none priced.
    assert first["object_requests"].to_list() == [0] * first.height
    assert first["object_requests_usd"].sum() == 0
    assert on_today["runs"].max() == 1
    bars = on_today.filter(pl.col("dataset") == "normalized/futures_bars_1m").row(0, named=True)
    assert bars["component"] == "futures" and bars["storage_usd"] > 0
    kept = bars["current_bytes"] + bars["kept_bytes"]
    # Today is recorded as far as it has gone: its storage and subscription for that part.
    elapsed = _elapsed(now)
    assert bars["storage_usd"] == pytest.approx(kept / 1e9 * elapsed, rel=1e-6)
    # No run used ThetaData on either day: its subscription for each, unattributed.
    unused = first.filter(pl.col("component") == "providers").sort("day")
    assert unused["day"].to_list() == [today - timedelta(days=1), today]
    assert unused["subscription_usd"].to_list() == pytest.approx([1.0, elapsed])

    table = lake.read(COST_DAILY)
    assert COST_DAILY not in drift(lake), "the table differs from its catalog entry"
    keys = table.select("day", "component", "dataset")
    assert keys.height == keys.unique().height, "a refresh left duplicate rows"
    assert sorted(table["day"].unique()) == [
        today - timedelta(days=1),
        today,
        today + timedelta(days=1),
    ]
    again = table.filter(pl.col("day") == today).sort("dataset")
    before = on_today.sort("dataset")
    assert again["dataset"].to_list() == before["dataset"].to_list()
    # Recorded again once it has passed, today is a whole day of the bytes measured on it.
    assert again["current_bytes"].to_list() == before["current_bytes"].to_list()
    stored = again.filter(pl.col("storage_usd") > 0)
    assert stored["storage_usd"].to_list() == pytest.approx(
        ((stored["current_bytes"] + stored["kept_bytes"]) / 1e9).to_list()
    )
    assert again["compute_usd"].to_list() == pytest.approx(before["compute_usd"].to_list())


def test_the_command_records_the_days(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    started = datetime.now(UTC)
    result = CliRunner().invoke(app, ["cost", "--json", "--record", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert "for 3 day(s) in operations/cost_daily" in result.output
    table = lake_at(str(settings_for(home).lake_root)).read(COST_DAILY)
    today = started.date()
    window = table.filter(pl.col("day") >= today - timedelta(days=2), pl.col("day") <= today)
    # The home's sheet has no subscription: the days without runs or storage cost nothing and
    # have no rows; today's were recorded by this command.
    assert set(window["day"]) == {today}
    assert window["recorded_at"].min() >= started
    # --days without --record would be ignored: refused, saying what it needs.
    alone = CliRunner().invoke(app, ["cost", "--days", "3"])
    assert alone.exit_code == 2 and "add --record" in alone.output


def test_the_command_the_api_and_the_mart_agree_on_a_window(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the same window (from a midnight to now) the command's report, `GET /v1/cost` and
    the sum of the mart's days charge the same total."""
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    (home / PRICES_FILE).write_text(
        "vcpu_hour = 3600\ngb_month = 30\n[subscriptions]\nthetadata = 30\n"
    )
    try:
        first = datetime.now(UTC).date() - timedelta(days=2)
        since = first.isoformat()
        result = CliRunner().invoke(
            app, ["cost", "--since", since, "--json", "--record", "--days", "3"]
        )
        assert result.exit_code == 0, result.output
        # The report, then the line saying what was recorded.
        report, _end = json.JSONDecoder().raw_decode(result.output, result.output.index("{"))
        command = report["total"]
        api = create_app(settings_for(home))
        with serving_app(api, role=None) as client:
            answer = client.get(
                "/v1/cost", params={"since": since}, headers=auth_headers(api, "operator")
            )
        assert answer.status_code == 200, answer.text
        served = answer.json()["total"]
    finally:
        (home / PRICES_FILE).unlink()
    recorded = lake_at(str(settings_for(home).lake_root)).read(COST_DAILY)
    warehouse = WarehouseResource(home=str(home))
    invocation = warehouse.run(["build", "--select", "+fct_cost_daily"])
    results = invocation.get_artifact("run_results.json")["results"]
    outcome = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in results}
    assert outcome["each_row_is_priced_in_full_and_shared_within_its_day"] == "pass"
    assert outcome["fct_cost_daily"] == "success", outcome
    assert all(status in ("pass", "success") for status in outcome.values()), outcome
    with warehouse.reading() as conn:
        mart = conn.sql("select * from marts.fct_cost_daily").pl()
    assert mart.height == recorded.height
    for day, shares in mart.group_by("day").agg(pl.col("share_of_day").sum()).iter_rows():
        assert shares == pytest.approx(1.0), day
    window = mart.filter(pl.col("day") >= first, pl.col("day") <= first + timedelta(days=2))
    # The subscription ($1 a day) and a CPU second ($1) make the totals far from nothing.
    assert command["subscription_usd"] > 2.0 and command["compute_usd"] > 0
    assert window["total_usd"].sum() == pytest.approx(command["total_usd"], abs=1e-5)
    assert window["compute_usd"].sum() == pytest.approx(command["compute_usd"], abs=1e-5)
    assert window["storage_usd"].sum() == pytest.approx(command["storage_usd"], abs=1e-5)
    assert window["object_requests_usd"].sum() == command["object_requests_usd"] == 0
    # The API's window ends a moment later: a few seconds more of the subscription.
    assert served["total_usd"] == pytest.approx(command["total_usd"], abs=1e-3)
    assert served["runs"] == command["runs"] == 1


def test_the_catalog_lists_the_table_and_the_mart() -> None:
    table = CATALOG.get(COST_DAILY)
    assert table.keys == ("day", "component", "dataset")
    mart = CATALOG.get("marts/fct_cost_daily")
    assert mart.kind == "dbt" and "staging/stg_operations__cost_daily" in mart.upstream


def test_the_daily_job_records_the_table_and_its_materialization(tmp_path: Path) -> None:
    from market_spine.definitions import build_definitions
    from market_spine.home import instance as home_instance

    settings = settings_for(tmp_path / "home")
    settings.home.mkdir(parents=True)
    # The home's sheet: a $30 monthly subscription is $1 on every day, used or not.
    (settings.home / PRICES_FILE).write_text("[subscriptions]\nthetadata = 30\n")
    defs = build_definitions(settings)
    job = defs.get_job_def("cost_daily")
    schedule = defs.get_schedule_def("cost_daily_schedule")
    assert schedule.cron_schedule == "50 6 * * *"
    with home_instance(settings) as instance:
        result = job.execute_in_process(instance=instance)
        assert result.success
        [event] = instance.fetch_materializations(
            dg.AssetKey(COST_DAILY.split("/")), limit=5
        ).records
    assert event.run_id == result.run_id
    rows = lake_at(str(settings.lake_root)).read(COST_DAILY).sort("day")
    recorded_at = rows["recorded_at"].max()
    assert rows["day"].to_list() == [
        recorded_at.date() - timedelta(days=n) for n in range(6, -1, -1)
    ]
    # Six whole days and today as far as it had gone.
    expected = [1.0] * 6 + [_elapsed(recorded_at)]
    assert rows["subscription_usd"].to_list() == pytest.approx(expected, abs=1e-6)
