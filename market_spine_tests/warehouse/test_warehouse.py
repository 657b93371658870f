"""The warehouse: dbt builds the marts over a materialized home through Dagster, the marts agree
with the lake, lineage runs from raw captures to marts, and DuckDB's single writer is respected."""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from market_spine.catalog.registry import drift, undeclared
from market_spine.definitions import build_definitions
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake
from market_spine.runs.launch import materialize_options
from market_spine.warehouse import reference
from market_spine.warehouse.assets import warehouse_dbt
from market_spine.warehouse.project import dbt_resource, prepared_manifest
from market_spine.warehouse.quality import check_results
from market_spine.warehouse.resource import WarehouseResource
from market_spine.warehouse.tables import CHECK_RESULTS
from market_spine.warehouse.translator import MINUTE_BARS_KEY
from market_spine_tests.kit.homes import REPO, WEEK, settings_for

OPTION_DAY = date(2024, 3, 8)
MINUTE_DAY = WEEK[0]


@dataclass(frozen=True)
class Built:
    """A home whose warehouse was built through Dagster, with the runs' results."""

    home: Path
    warehouse: WarehouseResource
    unpartitioned: dg.ExecuteInProcessResult
    minute_bars: dg.ExecuteInProcessResult
    #: When the test released the writer lock, and when the waiting partition run finished.
    released: float
    finished: float


def _resources(home: Path) -> dict[str, object]:
    return {
        "lake": LakeResource(root=str(home / "lake")),
        "dbt": dbt_resource(),
        "warehouse": WarehouseResource(home=str(home)),
    }


@pytest.fixture(scope="module")
def built(materialized_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A copy of the shared futures week plus one options day; the warehouse built via Dagster:
    everything unpartitioned, then one trade date of the minute-bar fact, launched while the
    test holds the writer lock (two dbt invocations keep the module fast)."""
    home = tmp_path_factory.mktemp("warehouse") / "home"
    shutil.copytree(materialized_home / "lake", home / "lake")  # the shared home stays read-only
    resources = _resources(home)
    warehouse = WarehouseResource(home=str(home))
    with dg.instance_for_test() as inst:
        options = materialize_options(settings_for(home), OPTION_DAY, OPTION_DAY, instance=inst)
        assert options is not None and options.success
        assert dg.materialize([check_results], instance=inst, resources=resources).success
        everything_else = [k for k in warehouse_dbt.keys if k != MINUTE_BARS_KEY]
        unpartitioned = dg.materialize(
            [warehouse_dbt], selection=everything_else, instance=inst, resources=resources
        )
        outcome: dict[str, object] = {}

        def second_writer() -> None:
            outcome["result"] = dg.materialize(
                [warehouse_dbt],
                selection=[MINUTE_BARS_KEY],
                instance=inst,
                resources=resources,
                partition_key=MINUTE_DAY.isoformat(),
            )
            outcome["finished"] = time.monotonic()

        with warehouse.writing():
            thread = threading.Thread(target=second_writer)
            thread.start()
            time.sleep(2.0)
            released = time.monotonic()
        thread.join(timeout=300)
    minute_bars = outcome["result"]
    assert isinstance(minute_bars, dg.ExecuteInProcessResult)
    return Built(home, warehouse, unpartitioned, minute_bars, released, float(outcome["finished"]))


def _count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return conn.execute(f"select count(*) from {table}").fetchone()[0]


def test_dbt_build_passes_and_tests_are_asset_checks(built: Built) -> None:
    for result in (built.unpartitioned, built.minute_bars):
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert evaluations, "dbt tests should report as asset checks"
        assert [e.check_name for e in evaluations if not e.passed] == []
    manifest = json.loads(prepared_manifest().read_text())
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    reported = {
        e.check_name
        for r in (built.unpartitioned, built.minute_bars)
        for e in r.get_asset_check_evaluations()
    }
    assert reported == {t["name"] for t in tests}
    # The unit tests check the models' SQL, not the data: they run here, not in builds.
    built_nodes = built.warehouse.target_path / "run_results.json"
    kinds = {r["unique_id"].split(".")[0] for r in json.loads(built_nodes.read_text())["results"]}
    assert "unit_test" not in kinds and "test" in kinds


def test_marts_match_the_lake(built: Built) -> None:
    lake = Lake(built.home / "lake")

    def rows(dataset: str) -> int:
        return lake.read(dataset).height

    checks = lake.read(CHECK_RESULTS)
    expected = {
        "marts.fct_futures_bars_daily": rows("analytics/futures_bars_daily"),
        "marts.fct_futures_continuous_daily": rows("analytics/futures_continuous_daily"),
        "marts.fct_option_eod": rows("analytics/options_greeks_eod"),
        "marts.fct_vol_surface": rows("analytics/vol_surface_daily"),
        "marts.mart_data_quality": checks.select("asset_key", "check_name", "partition_key")
        .unique()
        .height,
        "marts.dim_instrument": len(reference.futures_roots())
        + len(reference.futures_contracts())
        + len(reference.option_roots()),
        "marts.dim_date": 4 * ((reference.LAST_DAY - reference.FIRST_DAY).days + 1),
    }
    with built.warehouse.reading() as conn:
        counts = {table: _count(conn, table) for table in expected}
        # Every daily bar found its contract and its trading day.
        unmatched = conn.execute(
            """select count(*) from marts.fct_futures_bars_daily f
               left join marts.dim_date d using (date_key)
               where d.is_trading_day is distinct from true"""
        ).fetchone()[0]
    assert counts == expected
    assert expected["marts.fct_option_eod"] > 0 and expected["marts.mart_data_quality"] > 0
    assert unmatched == 0


def test_the_continuous_mart_back_adjusts_as_spine_does(built: Built) -> None:
    from market_spine import Spine

    expected = Spine(settings=settings_for(built.home)).daily(
        "ES.c.0", "2024-03-04", "2024-03-08", adjust="difference"
    )
    with built.warehouse.reading() as conn:
        mart = conn.execute(
            """select trade_date, local_symbol, close_difference_adjusted, is_roll_day
               from marts.fct_futures_continuous_daily where series = 'ES.c.0'
               order by trade_date"""
        ).pl()
    assert mart["local_symbol"].to_list() == expected["contract"].to_list()
    assert mart["close_difference_adjusted"].to_list() == pytest.approx(expected["close"].to_list())
    assert mart.filter("is_roll_day")["trade_date"].to_list() == [date(2024, 3, 7)]


def test_readers_open_read_only_and_see_persistent_views(built: Built) -> None:
    with built.warehouse.reading() as conn:
        # The staging views read the lake's Parquet files by path, so they work in a process
        # other than the dbt build that created them (dbt-duckdb's delta plugin's would not).
        minutes = _count(conn, "staging.stg_normalized__futures_bars_1m")
        assert minutes == _count(conn, "normalized.futures_bars_1m") > 0
        with pytest.raises(duckdb.Error):
            conn.execute("create table marts.scratch as select 1")


def test_a_second_writer_waits_for_the_lock(built: Built) -> None:
    assert built.finished >= built.released, "a second writer must wait, not run alongside"
    assert built.minute_bars.success


def test_a_partition_builds_exactly_its_trade_date(built: Built) -> None:
    """The partition window reaches dbt through the environment: a first (non-incremental)
    build without it would have loaded the whole week."""
    materialized = built.minute_bars.get_asset_materialization_events()
    assert [e.partition for e in materialized] == [MINUTE_DAY.isoformat()]
    lake_rows = Lake(built.home / "lake").read(
        "normalized/futures_bars_1m", between={"trade_date": (MINUTE_DAY, MINUTE_DAY)}
    )
    with built.warehouse.reading() as conn:
        per_day = conn.execute(
            "select trade_date, count(*) from marts.fct_futures_bars_1m group by 1"
        ).fetchall()
    assert per_day == [(MINUTE_DAY, lake_rows.height)]


def test_lineage_runs_from_raw_captures_to_the_marts(tmp_path: Path) -> None:
    graph = build_definitions(settings_for(tmp_path)).get_repository_def().asset_graph
    raw = dg.AssetKey(["raw", "futures_bars_1m"])

    def ancestors(key: dg.AssetKey) -> set[dg.AssetKey]:
        seen: set[dg.AssetKey] = set()
        todo = [key]
        while todo:
            for parent in graph.get(todo.pop()).parent_keys:
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    daily = ancestors(dg.AssetKey(["marts", "fct_futures_bars_daily"]))
    assert {
        raw,
        dg.AssetKey(["normalized", "futures_bars_1m"]),
        dg.AssetKey(["analytics", "futures_bars_daily"]),
        dg.AssetKey(["staging", "stg_analytics__futures_bars_daily"]),
    } <= daily
    assert raw in ancestors(dg.AssetKey(["marts", "fct_futures_bars_1m"]))
    assert dg.AssetKey(["quality", "check_results"]) in ancestors(
        dg.AssetKey(["marts", "mart_data_quality"])
    )


def test_seeds_match_the_code() -> None:
    for name, build in reference.TABLES.items():
        on_disk = (reference.SEEDS / f"{name}.csv").read_text()
        assert on_disk == reference.render(build()), (
            f"{name}.csv is stale: run `python -m market_spine.warehouse.reference`"
        )


def test_check_results_schema_is_what_the_staging_model_reads(built: Built) -> None:
    lake = Lake(built.home / "lake")
    assert undeclared(lake) == [] and drift(lake) == {}  # catalogued like every lake table
    frame = lake.read(CHECK_RESULTS)
    assert frame.height > 0
    assert frame["evaluation_id"].is_unique().all()
    assert frame.schema["evaluated_at"] == pl.Datetime(
        frame.schema["evaluated_at"].time_unit, "UTC"
    )


NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


@pytest.mark.timeout(300)
def test_quickstart_notebook_runs_on_a_materialized_home(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("MARKET_SPINE_HOME", str(built.home))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=240, kernel_name="python3").execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)
    # It saw the week of CL bars, the options day's chain and the weekly mart query's rows.
    assert "5 sessions" in text and "contracts on 2024-03-08" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
    weekly = notebook.cells[-1].outputs[0]["data"]["text/plain"]
    assert "CL" in weekly and "ES" in weekly and "NG" in weekly


def test_the_catalog_describes_every_model_with_warehouse_facts(built: Built) -> None:
    from market_spine.client import Spine

    manifest = json.loads(prepared_manifest().read_text())
    models = {
        f"{n['schema']}/{n['name']}"
        for n in manifest["nodes"].values()
        if n["resource_type"] in ("model", "seed")
    }
    spine = Spine(built.home)
    listed = spine.catalog()
    assert models <= set(listed["name"])
    entry = spine.describe("marts/fct_futures_bars_daily")
    assert (
        entry["kind"] == "dbt" and "staging/stg_analytics__futures_bars_daily" in entry["upstream"]
    )
    assert [c["name"] for c in entry["columns"]][:2] == ["bar_key", "trade_date"]
    with built.warehouse.reading() as conn:
        rows = _count(conn, "marts.fct_futures_bars_daily")
        types = dict(
            conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = 'fct_futures_bars_daily'"
            ).fetchall()
        )
    assert entry["facts"]["rows"] == rows > 0
    assert entry["facts"]["column_types"] == types
    row = listed.filter(pl.col("name") == "marts/dim_instrument").row(0, named=True)
    assert row["rows"] and row["written_by"].startswith("dbt")


def test_dbt_unit_tests_pin_contract_resolution_and_roll_returns(built: Built) -> None:
    """The dbt `unit_tests:` (fixed inputs, no lake): one-digit-year symbols resolve to the
    decade traded, no return is computed across a contract roll, an option quote missing a
    side has no spread, an expiring (0DTE) contract is kept with no forward and no vol, and a
    continuous day carries its own series' certification and its difference-adjusted prices
    on the tick grid."""
    invocation = built.warehouse.run(["test", "--select", "test_type:unit"])
    results = invocation.get_artifact("run_results.json")["results"]
    outcome = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in results}
    assert outcome == {
        "local_symbols_resolve_to_the_decade_they_trade_in": "pass",
        "a_minute_keys_its_own_contract_without_a_daily_bar": "pass",
        "no_return_across_a_contract_roll": "pass",
        "a_quote_missing_a_side_has_no_spread": "pass",
        "an_expiring_contract_is_kept_without_a_forward": "pass",
        "the_newest_judgment_of_each_partition_and_symbol_wins": "pass",
        "each_row_is_priced_in_full_and_shared_within_its_day": "pass",
        "each_continuous_day_carries_its_series_certification": "pass",
        "a_day_across_an_unknown_roll_is_not_adjusted": "pass",
        "difference_adjusted_prices_are_on_the_tick_grid": "pass",
        "a_failed_partition_is_listed_with_what_failed_it": "pass",
    }


def test_each_models_data_tests_find_what_they_guard(built: Built, tmp_path: Path) -> None:
    """The one-per-model data tests fail on exactly what they guard, in a copy of the home:
    `required_columns` returns each column holding NULLs, `accepted_ranges` each value out of
    its bounds (exclusive where said), `primary_key` each key missing or repeated."""
    home = tmp_path / "home"
    shutil.copytree(built.home, home)
    copy = WarehouseResource(home=str(home))
    with copy.writing(), duckdb.connect(str(copy.path)) as conn:
        conn.execute(
            """
            update marts.fct_futures_bars_1m
            set trade_date = null, volume = -1, low_price = 0
            where bar_key = (select min(bar_key) from marts.fct_futures_bars_1m);
            insert into marts.fct_futures_bars_1m
            select * from marts.fct_futures_bars_1m
            where bar_key = (select max(bar_key) from marts.fct_futures_bars_1m);
            """
        )
    tests = {
        "required_columns_fct_futures_bars_1m": 1,  # trade_date
        "accepted_ranges_fct_futures_bars_1m": 2,  # volume < 0, low_price not > 0
        "primary_key_fct_futures_bars_1m_bar_key": 1,  # the repeated key
        "required_columns_dim_date": 0,
    }
    invocation = copy.run(["test", "--select", " ".join(tests)])
    results = invocation.get_artifact("run_results.json")["results"]
    failures = {r["unique_id"].split(".")[2]: r["failures"] for r in results}
    assert failures == tests


def test_the_readiness_mart_and_view_say_what_spine_says(built: Built) -> None:
    """`marts.mart_readiness` (built by dbt) and the `operations.readiness` view in the
    analysts' DuckDB hold the rows `Spine.readiness` answers with, one per partition and
    symbol; nothing judged is left out."""
    from market_spine.client import Spine

    expected = Spine(built.home, warn_empty=False).readiness()
    assert expected.height > 0 and {
        "normalized/futures_bars_1m",
        "normalized/options_chain_eod",
    } <= set(expected["dataset"])
    columns = [
        "dataset",
        "trade_date",
        "symbol",
        "state",
        "reason",
        "anomalies",
        "capture_id",
        "missing",
    ]
    with built.warehouse.reading() as conn:
        mart = conn.sql("select * from marts.mart_readiness").pl()
        view = conn.sql("select * from operations.readiness").pl()
    for found in (mart, view):
        assert found.select(columns).sort(columns).equals(expected.select(columns).sort(columns))


#: The marts over certified lake data: the dataset each one's rows are judged as, and the SQL
#: naming the symbol each row is judged under.
CERTIFIED_MARTS = {
    "fct_futures_bars_1m": ("normalized/futures_bars_1m", "substr(root_instrument_key, 5)"),
    "fct_futures_bars_daily": ("analytics/futures_bars_daily", "substr(root_instrument_key, 5)"),
    "fct_futures_continuous_daily": ("analytics/futures_continuous_daily", "series"),
    "fct_option_eod": ("analytics/options_greeks_eod", "substr(root_instrument_key, 5)"),
    "fct_vol_surface": ("analytics/vol_surface_daily", "substr(root_instrument_key, 5)"),
}


@pytest.mark.parametrize("mart", sorted(CERTIFIED_MARTS))
def test_each_mart_over_certified_data_carries_its_certification(built: Built, mart: str) -> None:
    """Every row of a mart over certified data says its partition's certification as Spine's
    readiness says it for that dataset, symbol and trade date."""
    from market_spine.client import Spine

    dataset, symbol = CERTIFIED_MARTS[mart]
    judged = (
        Spine(built.home, warn_empty=False)
        .readiness()
        .filter(pl.col("dataset") == dataset)
        .select("trade_date", "symbol", pl.col("state").alias("certification"))
    )
    assert judged.height > 0, f"nothing of {dataset} was judged"
    with built.warehouse.reading() as conn:
        rows = conn.sql(
            f"select distinct trade_date, {symbol} as symbol, certification from marts.{mart}"
        ).pl()
    assert rows.height > 0
    sort = ["trade_date", "symbol"]
    expected = rows.select(sort).join(judged, on=sort, how="left").sort(sort)
    assert rows.sort(sort).equals(expected), (rows, expected)
