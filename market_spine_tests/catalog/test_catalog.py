"""The catalog: one registry that every table, the Dagster UI, Spine, the CLI and the API agree
with, and that fails loudly when a table is undeclared or drifts from its declaration."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from market_spine.api.app import create_app
from market_spine.catalog.facts import lake_facts
from market_spine.catalog.registry import CATALOG, drift, last_materialization, undeclared
from market_spine.cli import app as cli
from market_spine.client import Spine
from market_spine.company.catalog import COMPANY_DATASETS
from market_spine.definitions import build_definitions
from market_spine.home import instance as home_instance
from market_spine.lake import Lake
from market_spine.runs.launch import materialize_options, materialize_range
from market_spine.warehouse.sources import SOURCES_FILE
from market_spine.warehouse.sources import render as render_sources
from market_spine_tests.kit.api import auth_headers
from market_spine_tests.kit.homes import WEEK, settings_for


@pytest.fixture(scope="module")
def options_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with one options day (chains, greeks, surface, intraday quotes)."""
    home = tmp_path_factory.mktemp("catalog") / "home"
    with dg.instance_for_test() as instance:
        run = materialize_options(
            settings_for(home), date(2024, 3, 5), date(2024, 3, 5), instance=instance
        )
    assert run is not None and run.success
    return home


def test_every_table_is_declared_and_matches_its_declaration(materialized_home, options_home):
    for home in (materialized_home, options_home):
        lake = Lake(home / "lake")
        assert lake.datasets()
        assert undeclared(lake) == []
        assert drift(lake) == {}
    options = set(Lake(options_home / "lake").datasets())
    futures = set(Lake(materialized_home / "lake").datasets())
    # Between the two homes every table the batch assets write was built and compared (the
    # streaming and warehouse tables are compared in their own tests, the revision tables, which
    # need a partition whose data changed, and the anomaly flags, which need flagged rows, in
    # the certification tests, the prunings, which maintenance writes, in the retention
    # tests, the cost per day, which the cost job writes, in the cost tests; the company
    # datasets in the company tests).
    batch = {
        *(spec.name for spec in COMPANY_DATASETS),
        "operations/company_captures",
        "raw/futures_bars_5s",
        "quality/check_results",
        "operations/revisions",
        "operations/revision_rows",
        "operations/prunings",
        "operations/anomaly_flags",
        "operations/cost_daily",
    }
    lake_tables = {s.name for s in CATALOG if s.kind == "delta"}
    assert options | futures == lake_tables - batch


def test_an_undeclared_or_drifted_table_is_reported(tmp_path, materialized_home):
    lake = Lake(tmp_path / "lake")
    lake.append("raw/mystery", pl.DataFrame({"x": [1]}))
    assert undeclared(lake) == ["raw/mystery"]
    daily = Lake(materialized_home / "lake").read("analytics/futures_bars_daily")
    lake.append("analytics/futures_bars_daily", daily.drop("vwap"))
    assert "vwap" in drift(lake)["analytics/futures_bars_daily"]
    retyped = daily.with_columns(pl.col("volume").cast(pl.Float64))
    lake2 = Lake(tmp_path / "lake2")
    lake2.append("analytics/futures_bars_daily", retyped)
    assert "volume" in drift(lake2)["analytics/futures_bars_daily"]


def test_dagster_assets_carry_the_catalog_text_and_columns(tmp_path) -> None:
    defs = build_definitions(settings_for(tmp_path / "home"))
    graph = defs.resolve_asset_graph()
    lake_assets = {
        "/".join(key.path) for key in graph.get_all_asset_keys() if "delta" in graph.get(key).kinds
    }
    assert lake_assets == {s.name for s in CATALOG if s.written_by == "asset"}
    for name in lake_assets:
        spec = CATALOG.get(name)
        node = graph.get(dg.AssetKey(spec.asset_path))
        assert node.description == spec.description
        schema = node.metadata["dagster/column_schema"]
        assert [(c.name, c.description) for c in schema.columns] == [
            (c.name, c.description) for c in spec.columns
        ]
        assert node.owners == [spec.owner]


def test_spine_catalog_has_live_facts(materialized_home) -> None:
    frame = Spine(materialized_home).catalog()
    assert frame["name"].to_list() == CATALOG.names()
    row = frame.filter(pl.col("name") == "normalized/futures_bars_1m").row(0, named=True)
    stored = Lake(materialized_home / "lake").read("normalized/futures_bars_1m")
    assert row["rows"] == stored.height
    assert row["newest_partition"] == stored["trade_date"].max()
    assert row["newest_data_ts"] == stored["ts"].max()
    unbuilt = frame.filter(pl.col("name") == "raw/spx_options_eod").row(0, named=True)
    assert unbuilt["rows"] is None and unbuilt["delta_version"] is None


def test_api_catalog_and_one_dataset(materialized_home) -> None:
    app = create_app(settings_for(materialized_home))
    with TestClient(app, headers=auth_headers(app, "reader")) as http:
        listing = http.get("/v1/catalog").json()["datasets"]
        assert [d["name"] for d in listing] == CATALOG.names()
        one = http.get("/v1/catalog/analytics/futures_bars_daily").json()
        assert one["grain"] == "one row per symbol and trade date"
        assert [c["name"] for c in one["columns"]][:2] == ["trade_date", "symbol"]
        daily = Lake(materialized_home / "lake").read("analytics/futures_bars_daily")
        assert one["facts"]["rows"] == daily.height
        assert one["facts"]["newest_partition"] == daily["trade_date"].max().isoformat()
        assert one["upstream"] == ["normalized/futures_bars_1m"]
        missing = http.get("/v1/catalog/raw/nothing")
        assert missing.status_code == 404 and missing.json()["field"] == "name"
        assert "normalized/futures_bars_1m" in missing.json()["error"]


def test_cli_catalog_lists_and_describes(materialized_home, monkeypatch) -> None:
    monkeypatch.setenv("MARKET_SPINE_HOME", str(materialized_home))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    listing = runner.invoke(cli, ["catalog"])
    assert listing.exit_code == 0, listing.output
    assert "normalized/futures_bars_1m" in listing.output
    detail = runner.invoke(cli, ["catalog", "analytics/vol_surface_daily"])
    assert detail.exit_code == 0 and "25-delta risk reversal" in detail.output
    bad = runner.invoke(cli, ["catalog", "nope"])
    assert bad.exit_code == 2


def test_dbt_sources_are_generated_from_the_catalog() -> None:
    # The checked-in sources file is exactly what the catalog renders: it cannot drift.
    assert SOURCES_FILE.read_text() == render_sources(), (
        "run `python -m market_spine.warehouse.sources` after changing the catalog"
    )
    sources = yaml.safe_load(SOURCES_FILE.read_text())["sources"]
    for source in sources:
        for table in source["tables"]:
            spec = CATALOG.get(f"{source['name']}/{table['name']}")
            assert [c["name"] for c in table["columns"]] == [c.name for c in spec.columns]
            assert table["config"]["meta"]["dagster"]["asset_key"] == spec.asset_path


def test_last_materialization_names_the_runs_whole_range(home, instance) -> None:
    [run] = materialize_range(settings_for(home), ["CL"], *WEEK, instance=instance)
    assert run.success
    last = last_materialization(instance, CATALOG.get("normalized/futures_bars_1m"))
    assert last is not None and last["run_id"] == run.run_id
    assert last["partition"] == f"{WEEK[0]}|CL..{WEEK[1]}|CL"
    assert last["at"].endswith("Z") and last["at"][:4] == str(date.today().year)


def test_a_roll_tables_newest_data_is_its_newest_roll(materialized_home: Path) -> None:
    lake = Lake(materialized_home / "lake")
    rolls = lake.read("normalized/futures_rolls", columns=["roll_ts"])
    assert rolls.height > 0
    facts = lake_facts(lake, CATALOG.get("normalized/futures_rolls"))
    assert facts["newest_data_ts"] == rolls["roll_ts"].max().isoformat()


def test_the_catalog_command_shows_one_datasets_last_materialization(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with home_instance(settings) as inst:
        [run] = materialize_range(settings, ["CL"], WEEK[0], WEEK[0], instance=inst)
    assert run.success
    env = {"MARKET_SPINE_HOME": str(settings.home)}
    shown = CliRunner().invoke(cli, ["catalog", "normalized/futures_bars_1m", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    last = json.loads(shown.output)["facts"]["last_materialization"]
    assert last is not None and last["run_id"] == run.run_id
    plain = CliRunner().invoke(cli, ["catalog", "normalized/futures_bars_1m"], env=env)
    assert f"'run_id': '{run.run_id}'" in plain.output or run.run_id in plain.output
