"""The options assets through Dagster: raw chain → normalized → greeks → surface, on the
simulated market, against a real Delta lake."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.lake import Lake
from market_spine.options import keys
from market_spine.providers.simulated_options import SimulatedOptionMarket
from market_spine.runs.launch import domain_assets, resources
from market_spine_tests.kit.api import auth_headers
from market_spine_tests.kit.homes import settings_for


def test_two_days_through_every_options_asset(home, instance) -> None:
    result = dg.materialize(
        domain_assets(settings_for(home), "options"),
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


def test_reads_through_spine_and_http(tmp_path, instance) -> None:
    from fastapi.testclient import TestClient

    from market_spine import Spine
    from market_spine.api.app import create_app
    from market_spine.errors import InvalidInput
    from market_spine.runs.launch import materialize_options

    settings = settings_for(tmp_path / "home")
    run = materialize_options(settings, date(2024, 3, 8), date(2024, 3, 10), instance=instance)
    assert run is not None and run.success and run.start == run.end == date(2024, 3, 8)
    spine = Spine(settings=settings)
    chain = spine.chain("spxw", "2024-03-08")
    assert chain.height > 1000 and {"iv", "delta", "osi"} <= set(chain.columns)
    one = spine.chain("SPXW", "2024-03-08", expiration="2024-03-15")
    assert one["expiration"].unique().to_list() == [date(2024, 3, 15)]
    assert spine.surface("2024-03-08")["root"].unique().sort().to_list() == ["SPX", "SPXW"]
    with pytest.raises(InvalidInput, match="SPX, SPXW"):
        spine.chain("NDX", "2024-03-08")

    app = create_app(settings)
    client = TestClient(app, headers=auth_headers(app, "quant"))
    ok = client.get(
        "/v1/options/chain",
        params={"root": "SPXW", "date": "2024-03-08", "expiration": "2024-03-15"},
    )
    assert ok.status_code == 200 and ok.json()["rows"] == one.height
    csv = client.get("/v1/options/surface", params={"date": "2024-03-08", "format": "csv"})
    assert csv.status_code == 200 and csv.text.startswith("trade_date,root,expiration")
    bad = client.get("/v1/options/chain", params={"root": "NDX", "date": "2024-03-08"})
    assert bad.status_code == 422 and "SPXW" in bad.json()["error"]
    bad_date = client.get("/v1/options/surface", params={"date": "March 8"})
    assert bad_date.status_code == 422 and bad_date.json()["field"] == "date"


def test_option_days_whose_session_has_not_opened_are_not_loaded(tmp_path: Path) -> None:
    from market_spine.errors import InvalidRange
    from market_spine.providers.resource import MarketDataResource
    from market_spine.runs.launch import materialize_options

    settings = settings_for(tmp_path / "home")
    before_open = MarketDataResource(frozen_now="2024-03-05T13:00:00Z")
    with dg.instance_for_test() as inst, pytest.raises(InvalidRange, match="has opened"):
        materialize_options(
            settings, date(2024, 3, 5), date(2024, 3, 6), instance=inst, market=before_open
        )
