"""A warehouse build over trade dates (counted in UTC+2) in a home whose company datasets are
partitioned by UTC day: the models over the company tables read them whole, so Dagster never
maps one clock onto the other and the build succeeds, as the first `make run`'s does."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from market_spine.home import instance as home_instance
from market_spine.runs.launch import materialize_company, materialize_range, materialize_warehouse
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)


def test_a_trade_date_build_reads_the_company_days_whole(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with home_instance(settings) as instance:
        [futures] = materialize_range(settings, ["CL"], DAY, DAY, instance=instance)
        assert futures.success, futures
        company = materialize_company(settings, instance=instance)
        assert company and all(run.success for run in company), company
        [warehouse] = materialize_warehouse(settings, DAY, DAY, instance=instance)
    assert warehouse.success, warehouse.failure
