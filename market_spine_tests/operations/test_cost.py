"""Cost per component through real runs on a test home: every run records its CPU time, memory,
bytes and provider requests; the lake's and warehouse's bytes are counted per dataset; the
price sheet turns them into dollars by dataset, asset and component, on the command line and at
`GET /v1/cost` (operator role)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.api.app import create_app
from market_spine.catalog.registry import CATALOG
from market_spine.cli import app
from market_spine.errors import InvalidInput
from market_spine.lake.store import lake_at
from market_spine.operations.cost.prices import PRICES_FILE, PriceSheet, load_prices
from market_spine.operations.cost.report import (
    UNATTRIBUTED,
    component_of,
    cost_report,
    run_lines,
    subscription_lines,
)
from market_spine.operations.cost.storage import stored_bytes
from market_spine.runs import meter
from market_spine_tests.kit.api import auth_headers, serving_app
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import DAY, ES_DAYS, open_instance, run_days

PRICES = PriceSheet(vcpu_hour=3600.0, gb_month=30.0, subscriptions={"thetadata": 90.0})


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with two real CLI runs: CL on DAY and ES over two days."""
    home = tmp_path_factory.mktemp("cost") / "home"
    assert run_days(home, "CL", DAY).success
    assert run_days(home, "ES", *ES_DAYS).success
    return home


def test_every_run_records_its_usage(home: Path) -> None:
    with open_instance(home) as instance:
        runs = instance.get_runs()
    assert len(runs) == 2
    for run in runs:
        used = meter.usage(run.tags, run.run_id)
        assert used is not None, run.tags
        assert used.cpu_s > 0 and used.peak_memory_mb > 50
        assert used.written_mb > 0 and used.read_mb >= 0
        # The simulated market is not a provider that is paid for by the request.
        assert used.provider_requests == {}


def test_the_meter_records_the_requests_reported_and_only_for_its_own_run() -> None:
    tags = meter.RunMeter().start().tags("run-1", {"thetadata": 3, "ib": 1, "simulated": 0})
    used = meter.usage(tags, "run-1")
    assert used is not None and used.provider_requests == {"ib": 1, "thetadata": 3}
    # A re-execution copying the tags is not charged its parent's usage.
    assert meter.usage(tags, "run-2") is None


def test_storage_is_counted_per_dataset(home: Path) -> None:
    settings = settings_for(home)
    stored = {
        b.dataset: b for b in stored_bytes(lake_at(str(settings.lake_root)), home, list(CATALOG))
    }
    bars = stored["normalized/futures_bars_1m"]
    assert bars.current > 0
    on_disk = sum(
        p.stat().st_size for p in (settings.lake_root / bars.dataset).rglob("*") if p.is_file()
    )
    assert bars.total == on_disk
    assert stored["raw/futures_bars_1m"].current > 0


def test_the_report_prices_runs_and_storage_by_component_dataset_and_asset(home: Path) -> None:
    settings = settings_for(home)
    now = datetime.now(UTC)
    since = now - timedelta(days=30)
    lake = lake_at(str(settings.lake_root))
    with open_instance(home) as instance:
        runs = instance.get_runs()
        cpu = sum(meter.usage(r.tags, r.run_id).cpu_s for r in runs)  # type: ignore[union-attr]
        reports = {
            by: cost_report(
                instance, list(CATALOG), lake, home, PRICES, since=since, by=by, now=now
            )
            for by in ("component", "dataset", "asset")
        }
    component = reports["component"]
    assert component.metered_runs == 2 and component.unmetered_runs == 0
    assert component.running_runs == 0 and component.as_json()["running_runs"] == 0
    # $3600 per vCPU-hour is $1 per CPU second.
    assert component.totals.compute_usd == pytest.approx(cpu, rel=1e-6)
    futures = next(line for line in component.lines if line.key == "futures")
    assert futures.compute_usd == pytest.approx(cpu, rel=1e-6)
    # $30 per GB-month is $1 per GB-day. The home has no storage history yet: only today, as
    # far as it has gone, is priced (at the bytes measured now); the 30 days before it are not.
    kept = futures.current_bytes + futures.kept_bytes
    today = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 86400
    assert kept > 0 and futures.storage_usd == pytest.approx(kept / 1e9 * today, rel=1e-6)
    assert component.storage_unrecorded_days == 30
    # Nothing requested ThetaData: its 30 days of subscription stay unattributed, in full.
    [unattributed] = [line for line in component.lines if line.key == "providers"]
    assert unattributed.subscription_usd == pytest.approx(90.0)

    dataset = {line.key: line for line in reports["dataset"].lines}
    assert dataset["normalized/futures_bars_1m"].runs == 2
    assert dataset["normalized/futures_bars_1m"].storage_usd > 0
    assert reports["dataset"].totals.total_usd == pytest.approx(component.totals.total_usd)

    asset = {line.key: line for line in reports["asset"].lines}
    assert all(line.storage_usd == 0 for line in asset.values())
    assert set(asset) - {UNATTRIBUTED} <= set(dataset)
    assert sum(line.compute_usd for line in asset.values()) == pytest.approx(cpu, rel=1e-6)


def test_runs_in_progress_are_counted_as_running_not_unmetered(tmp_path: Path) -> None:
    """A queued or running run has not recorded its usage yet: it is counted apart (running),
    neither priced nor lost; a finished run without usage is unmetered."""
    import dagster as dg

    statuses = {
        "starting": dg.DagsterRunStatus.NOT_STARTED,
        "started": dg.DagsterRunStatus.STARTED,
        "done": dg.DagsterRunStatus.SUCCESS,
    }
    since = datetime.now(UTC) - timedelta(hours=1)
    with dg.DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        for name, status in statuses.items():
            instance.add_run(dg.DagsterRun(job_name=name, run_id=f"{name}-run", status=status))
        costs = run_lines(instance, since, PRICES)
    assert (costs.metered, costs.unmetered, costs.running) == (0, 1, 2)
    assert costs.lines == []


def test_a_subscription_is_shared_by_requests() -> None:
    lines = subscription_lines(
        PRICES, {"thetadata": {"raw/spx_options_eod": 3, "raw/spx_options_quotes_1m": 1}}, 15.0
    )
    shares = {line.key: line.subscription_usd for line in lines}
    assert shares == {"raw/spx_options_eod": 33.75, "raw/spx_options_quotes_1m": 11.25}
    assert component_of("raw/spx_options_eod") == "options"
    # A home's company datasets are their own component, whatever their layer.
    assert {component_of(f"{layer}/company_orders") for layer in ("raw", "normalized")} == {
        "company"
    }
    assert component_of("operations/company_captures") == "company"


def test_the_price_sheet_comes_from_the_home_and_refuses_bad_prices(tmp_path: Path) -> None:
    assert load_prices(tmp_path) == PriceSheet()
    (tmp_path / PRICES_FILE).write_text("vcpu_hour = 0.05\n[subscriptions]\nthetadata = 80\n")
    sheet = load_prices(tmp_path)
    assert sheet.vcpu_hour == 0.05 and sheet.subscriptions == {"thetadata": 80.0}
    (tmp_path / PRICES_FILE).write_text("vcpu_hour = -1\n")
    with pytest.raises(InvalidInput, match="vcpu_hour = -1 is not a price"):
        load_prices(tmp_path)
    (tmp_path / PRICES_FILE).write_text("cpu_hour = 1\n")
    with pytest.raises(InvalidInput, match="unknown price cpu_hour"):
        load_prices(tmp_path)
    # A misspelt provider or kind of request is refused (it would price nothing), and every
    # problem of the sheet is named at once.
    (tmp_path / PRICES_FILE).write_text(
        "[subscriptions]\nthetadta = 80\n[per_1k_requests_by_provider]\nibb = 1\n"
        '[per_1k_object_requests]\nget = "x"\nlistt = 1\n'
    )
    with pytest.raises(InvalidInput) as refused:
        load_prices(tmp_path)
    said = str(refused.value)
    assert "'thetadta', which is no provider (did you mean thetadata?)" in said, said
    assert "'ibb', which is no provider" in said and "'listt', which is no kind" in said, said
    assert "get = 'x' is not a price" in said, said
    (tmp_path / PRICES_FILE).write_text("per_1k_object_requests = 3\n")
    with pytest.raises(InvalidInput, match="table of kind of request = \\$ amount"):
        load_prices(tmp_path)


def test_the_command_prints_the_report_as_json(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    (home / PRICES_FILE).write_text("vcpu_hour = 3600\n")
    try:
        result = CliRunner().invoke(app, ["cost", "--since", "7d", "--by", "dataset", "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["by"] == "dataset" and report["metered_runs"] == 2
        assert report["prices"]["vcpu_hour"] == 3600.0
        keys = [line["key"] for line in report["lines"]]
        assert "normalized/futures_bars_1m" in keys
        bad = CliRunner().invoke(app, ["cost", "--by", "team"])
        assert bad.exit_code == 2 and "--by 'team' is not one of" in bad.output
    finally:
        (home / PRICES_FILE).unlink()


def test_the_api_serves_the_report_to_operators_only(home: Path) -> None:
    api = create_app(settings_for(home))
    with serving_app(api, role=None) as client:
        assert client.get("/v1/cost").status_code == 401
        reader = client.get("/v1/cost", headers=auth_headers(api, "reader"))
        assert reader.status_code == 403
        answer = client.get(
            "/v1/cost",
            params={"by": "component", "since": "2d"},
            headers=auth_headers(api, "operator"),
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["by"] == "component" and body["metered_runs"] == 2
        assert any(line["key"] == "futures" for line in body["lines"])
        refused = client.get("/v1/cost", params={"by": "x"}, headers=auth_headers(api, "operator"))
        assert refused.status_code == 422 and "dataset, asset, component" in refused.text
        # The query fields are named, not the command's flags.
        assert refused.json()["field"] == "by" and "--by" not in refused.text
        for since in ("yesterday-ish", "2999-01-01"):
            early = client.get(
                "/v1/cost", params={"since": since}, headers=auth_headers(api, "operator")
            )
            assert early.status_code == 422, early.text
            assert early.json()["field"] == "since" and "--since" not in early.text


def test_piped_output_is_whole_with_one_component_column(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    monkeypatch.delenv("COLUMNS", raising=False)
    by_component = CliRunner().invoke(app, ["cost", "--by", "component"])
    assert by_component.exit_code == 0, by_component.output
    [header] = [line for line in by_component.output.splitlines() if "total $" in line]
    assert header.count("component") == 1, header
    assert "GB kept" in header and "…" not in by_component.output
    by_dataset = CliRunner().invoke(app, ["cost", "--by", "dataset"])
    assert by_dataset.exit_code == 0, by_dataset.output
    assert "…" not in by_dataset.output
    assert "normalized/futures_bars_1m" in by_dataset.output
