"""A warehouse build is one Dagster run with one dbt invocation that redoes only what is stale,
and repairs what an earlier failed build left missing; `/readyz` is degraded (still ready)
while the newest build failed, and plainly ready once a build succeeds."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from market_spine.api import load_status
from market_spine.lake.store import Lake
from market_spine.runs.launch import materialize_options, materialize_range, materialize_warehouse
from market_spine.warehouse.assets import warehouse_dbt
from market_spine.warehouse.build import WarehousePlan, plan_warehouse
from market_spine.warehouse.definitions import warehouse_resources
from market_spine.warehouse.reading import read_only
from market_spine.warehouse.translator import MINUTE_BARS_KEY
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import WEEK, home_with_instance, settings_for

REBUILT_DAY = WEEK[0] + timedelta(days=2)


def _dbt_invocations(home: Path) -> int:
    log = home / "warehouse" / "dbt_target" / "dbt.log"
    return log.read_text().count("Running with dbt=") if log.is_file() else 0


@pytest.fixture(scope="module")
def home(materialized_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("build") / "home"
    home_with_instance(materialized_home, home, share_lake=False)
    shutil.copytree(materialized_home / "lake", home / "lake")
    return home


def _minute_dates(home: Path) -> list[str]:
    with read_only(home) as conn:
        rows = conn.execute("select distinct trade_date from marts.fct_futures_bars_1m order by 1")
        return [d.isoformat() for (d,) in rows.fetchall()]


# One flow over one home: each step's build is what the next one's plan starts from, and a
# full build is paid once.
@pytest.mark.timeout(600)
def test_a_failed_first_build_is_repaired_then_only_changes_are_rebuilt(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_status, "TTL_S", 0.0)
    settings = settings_for(home)
    bars = Lake(home / "lake").read("normalized/futures_bars_1m", columns=["trade_date"])
    week = sorted({d.isoformat() for d in bars["trade_date"].to_list()})
    inst = dg.DagsterInstance.from_config(str(settings.dagster_home))
    with inst, serving(home) as client:
        assert materialize_options(settings, WEEK[1], WEEK[1], instance=inst) is not None
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["warehouse"]["ok"] is True
        # The minute fact alone on a fresh home fails: the views it reads do not exist yet.
        first = dg.materialize(
            [warehouse_dbt],
            selection=[MINUTE_BARS_KEY],
            partition_key=week[0],
            instance=inst,
            resources=warehouse_resources(settings),
            raise_on_error=False,
        )
        assert not first.success
        r = client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "degraded" and "warehouse" in r.json()["degraded"]
        detail = r.json()["checks"]["warehouse"]["detail"]
        assert f"run {first.run_id[:8]}" in detail and "warehouse_dbt" in detail

        before = _dbt_invocations(home)
        [repair] = materialize_warehouse(settings, instance=inst)
        assert repair.success, repair
        again = client.get("/readyz")
        assert again.json()["checks"]["warehouse"]["ok"] is True, again.text
        assert again.json()["status"] == "ready"
        assert _dbt_invocations(home) == before + 1
        assert _minute_dates(home) == week
        assert sorted(inst.get_materialized_partitions(MINUTE_BARS_KEY)) == week

        # One trade date of one root captured again: its partition and what reads the daily
        # bars are rebuilt, nothing else.
        runs = materialize_range(settings, ["CL"], REBUILT_DAY, REBUILT_DAY, instance=inst)
        assert all(r.success for r in runs)
        plan = plan_warehouse(inst, settings)
        assert plan.minute_dates == (REBUILT_DAY.isoformat(),)
        names = {k.path[-1] for k in plan.models}
        assert {"fct_futures_bars_daily", "stg_normalized__futures_bars_1m"} <= names
        assert not names & {"dim_date", "ref_trading_sessions", "fct_option_eod", "fct_vol_surface"}

        before = _dbt_invocations(home)
        [update] = materialize_warehouse(settings, instance=inst)
        assert update.success, update
        assert _dbt_invocations(home) == before + 1
        built = {
            r.asset_key.path[-1]: r.partition_key
            for r in inst.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=MINUTE_BARS_KEY), limit=10
            ).records
            if r.run_id == update.run_id
        }
        assert built == {"fct_futures_bars_1m": REBUILT_DAY.isoformat()}

        idle = plan_warehouse(inst, settings)
        assert idle.minute_dates == ()
        assert {k.path[-1] for k in idle.models} <= {
            "stg_quality__check_results",
            "mart_data_quality",
        }

        # An options run re-judges its partitions: the option facts are rebuilt for their
        # certification, and the futures facts are not.
        assert materialize_options(settings, WEEK[1], WEEK[1], instance=inst) is not None
        names = {k.path[-1] for k in plan_warehouse(inst, settings).models}
        assert {"fct_option_eod", "fct_vol_surface"} <= names
        assert not names & {"fct_futures_bars_daily", "fct_futures_continuous_daily"}

        # `up` builds the warehouse from the earliest date any market loaded (Friday's chains),
        # which may hold no bars: the run's line names the days the fact holds, not the window.
        [wider] = materialize_warehouse(
            settings, date(2024, 3, 1), date(2024, 3, 11), instance=inst
        )
    assert wider.success, wider
    assert _minute_dates(home) == [
        d.isoformat() for d in (WEEK[0] + timedelta(n) for n in range(5))
    ]
    assert (wider.start, wider.end) == WEEK
    assert wider.symbol.endswith(
        "minute fact 2024-03-04..2024-03-08 (5 trade dates) (2 dates without bars)"
    ), wider.symbol


def test_the_plans_line_names_each_date_or_the_span_and_count() -> None:
    def line(dates: tuple[str, ...], covered: tuple[str, ...]) -> str:
        return WarehousePlan(frozenset(), dates, covered).label

    assert line((), ()) == "0 models"
    assert line(("2024-03-05",), ("2024-03-05",)) == "0 models + minute fact 2024-03-05"
    friday_monday = ("2024-03-08", "2024-03-11")
    assert line(friday_monday, friday_monday) == "0 models + minute fact 2024-03-08, 2024-03-11"
    assert line(friday_monday, ("2024-03-11",)) == (
        "0 models + minute fact 2024-03-11 (1 date without bars)"
    )
    assert line(("2024-03-29",), ()) == "0 models + minute fact: 1 date without bars"


def test_the_runs_line_names_only_what_the_fact_holds_and_counts_the_rest() -> None:
    """A date the lake has bars of but the fact does not hold after the run (the run failed,
    or stopped before it) is counted as not built, never named as if it were."""
    week = ("2024-03-04", "2024-03-05", "2024-03-06", "2024-03-09")
    plan = WarehousePlan(frozenset(), week, week[:3])
    after = frozenset({"2024-03-04"})
    assert plan.outcome(after) == (
        "0 models + minute fact 2024-03-04 (2 dates with bars not built, 1 date without bars)"
    )
    assert plan.outcome(frozenset()) == (
        "0 models + minute fact: 3 dates with bars not built, 1 date without bars"
    )
    assert "2024-03-05" not in plan.outcome(after)
    assert plan.outcome(frozenset(week[:3])) == plan.label
