"""The options assets through Dagster: raw chain → normalized → greeks → surface, on the
simulated market, against a real Delta lake."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl

from market_spine.definitions import OPTIONS_ASSETS
from market_spine.lake import Lake
from market_spine.options import keys
from market_spine.providers.simulated_options import SimulatedOptionMarket
from market_spine.runner import resources
from market_spine_tests.conftest import settings_for


def test_two_days_through_every_options_asset(home, instance) -> None:
    result = dg.materialize(
        list(OPTIONS_ASSETS),
        resources=resources(settings_for(home)),
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "2024-03-04",
            "dagster/asset_partition_range_end": "2024-03-05",
        },
    )
    assert result.success
    outcomes = {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }
    assert outcomes and all(outcomes.values()), outcomes
    lake = Lake(home / "lake")
    chain = lake.read(keys.table(keys.NORMALIZED_CHAIN))
    expected = SimulatedOptionMarket().chain("SPXW", date(2024, 3, 5))
    day = chain.filter((pl.col("trade_date") == date(2024, 3, 5)) & (pl.col("root") == "SPXW"))
    assert day.height == expected.height
    assert day["osi"].str.len_chars().unique().to_list() == [21]
    assert day["osi"].is_unique().all()
    greeks = lake.read(keys.table(keys.GREEKS), between={"trade_date": (date(2024, 3, 5),) * 2})
    assert greeks.height == chain.filter(pl.col("trade_date") == date(2024, 3, 5)).height
    solved = greeks.filter(pl.col("iv_converged"))
    assert solved.height > 0.8 * greeks.height
    surface = lake.read(keys.table(keys.SURFACE))
    assert set(surface["trade_date"].unique().to_list()) == {date(2024, 3, 4), date(2024, 3, 5)}
    assert (surface["rr25"] < 0).mean() > 0.9
    raw = lake.read(keys.table(keys.RAW_CHAIN))
    assert raw["capture_id"].n_unique() == 4  # two roots × two days
