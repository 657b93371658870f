"""A day of SPX/SPXW options materialized end to end through the fake ThetaTerminal over HTTP:
the same chain as the simulated source, within the tier's concurrency, faults absorbed."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl

from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal, Fault
from market_spine.lake import Lake
from market_spine.options import keys
from market_spine.pricing.black import NO_PRICE, NO_TIME_LEFT
from market_spine.providers.resource import MarketDataResource
from market_spine.providers.simulated_options import SimulatedOptionMarket
from market_spine.runs.launch import materialize_options
from market_spine_tests.kit.api import auth_headers
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)


def test_one_day_through_the_fake_terminal(home, instance: dg.DagsterInstance) -> None:
    config = FakeThetaConfig(today=DAY, concurrency=4, faults=[Fault("429"), Fault("drop")])
    with FakeThetaTerminal(config) as terminal:
        market = MarketDataResource(
            options_provider="thetadata", thetadata_url=terminal.url, thetadata_tier="value"
        )
        run = materialize_options(settings_for(home), DAY, DAY, instance=instance, market=market)
        stats = terminal.stats()
    assert run is not None and run.success, run
    assert stats["max_concurrency"] <= 2
    raw = Lake(home / "lake").read(keys.table(keys.RAW_CHAIN))
    assert set(raw["source"].unique()) == {"thetadata"}
    expected = SimulatedOptionMarket().chain("SPXW", DAY)
    got = raw.filter(pl.col("root") == "SPXW").select(expected.columns)
    assert got.sort("expiration", "strike", "right").equals(
        expected.sort("expiration", "strike", "right")
    )
    surface = Lake(home / "lake").read(keys.table(keys.SURFACE))
    assert surface.height > 10


def _check_metadata(instance: dg.DagsterInstance, asset: str, check: str) -> dict[str, object]:
    """The newest evaluation of `asset:check` in the instance: passed and its metadata."""
    records = instance.get_event_records(
        dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION), ascending=False
    )
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if (evaluation.asset_key.to_user_string(), evaluation.check_name) == (asset, check):
            return {
                "passed": evaluation.passed,
                **{k: v.value for k, v in evaluation.metadata.items()},
            }
    raise AssertionError(f"no evaluation of {asset}:{check}")


def test_quotes_without_an_offer_are_one_sided_not_a_blocked_day(
    home, instance: dg.DagsterInstance
) -> None:
    """The terminal sends a market nobody offers as ask 0 with ask size 0. Such a quote has no
    mid and no vol, is counted as one-sided by the (blocking) quotes check, which passes, and the
    day's greeks and surface are built and served with the mid null."""
    from fastapi.testclient import TestClient

    from market_spine.api.app import create_app

    config = FakeThetaConfig(today=DAY, concurrency=4, no_offer_every=400)
    with FakeThetaTerminal(config) as terminal:
        market = MarketDataResource(
            options_provider="thetadata", thetadata_url=terminal.url, thetadata_tier="value"
        )
        run = materialize_options(settings_for(home), DAY, DAY, instance=instance, market=market)
    assert run is not None and run.success and not run.failed_checks, run
    lake = Lake(home / "lake")
    greeks = lake.read(keys.table(keys.GREEKS))
    no_offer = greeks.filter((pl.col("ask") == 0) & (pl.col("bid") > 0))
    assert no_offer.height > 50
    assert no_offer["mid"].null_count() == no_offer.height
    assert no_offer["iv"].null_count() == no_offer["iv_ask"].null_count() == no_offer.height
    # A lone bid has no price to solve; on an expiring contract there is no time left either.
    expiring = pl.col("expiration") == pl.col("trade_date")
    assert (no_offer.filter(~expiring)["iv_reason"] == NO_PRICE).all()
    assert (no_offer.filter(expiring)["iv_reason"] == NO_TIME_LEFT).all()
    assert lake.read(keys.table(keys.SURFACE)).height > 10

    normalized = _check_metadata(instance, "normalized/options_chain_eod", "quotes")
    assert normalized["passed"] and normalized["crossed"] == 0
    assert normalized["no_ask"] == normalized["one_sided"] - normalized["no_bid"]
    assert (
        normalized["no_ask"]
        == lake.read(keys.table(keys.NORMALIZED_CHAIN))
        .filter((pl.col("ask") == 0) & (pl.col("bid") > 0))
        .height
    )
    convergence = _check_metadata(instance, "analytics/options_greeks_eod", "convergence")
    assert convergence["passed"] and convergence["one_sided"] == normalized["one_sided"]

    row = no_offer.row(0, named=True)
    app = create_app(settings_for(home))
    client = TestClient(app, headers=auth_headers(app, "reader"))
    answer = client.get(
        "/v1/options/chain",
        params={"root": row["root"], "date": DAY.isoformat(), "expiration": str(row["expiration"])},
    )
    assert answer.status_code == 200
    served = [r for r in answer.json()["data"] if r["osi"] == row["osi"]]
    assert len(served) == 1 and served[0]["mid"] is None and served[0]["iv"] is None
    assert served[0]["iv_reason"] == NO_PRICE


def test_without_index_data_or_some_open_interest_the_day_is_built(
    home, instance: dg.DagsterInstance
) -> None:
    """No index subscription (471) and contracts the open-interest file leaves out: the day is
    captured and checked, the underlying is the parity forward (its source in every row's
    request), open interest stays null where none was published, and greeks carry no NaN."""
    import json

    config = FakeThetaConfig(
        today=DAY, concurrency=4, index_subscription=False, no_open_interest_every=9
    )
    with FakeThetaTerminal(config) as terminal:
        market = MarketDataResource(
            options_provider="thetadata", thetadata_url=terminal.url, thetadata_tier="value"
        )
        run = materialize_options(settings_for(home), DAY, DAY, instance=instance, market=market)
    assert run is not None and run.success and not run.failed_checks, run
    lake = Lake(home / "lake")
    raw = lake.read(keys.table(keys.RAW_CHAIN))
    sources = {json.loads(r)["underlying_source"] for r in raw["request"].unique()}
    assert sources == {"put_call_parity"}
    spot = SimulatedOptionMarket().spot(DAY)
    assert (raw["underlying_price"] / spot - 1).abs().max() < 1e-3
    per_root = raw.group_by("root").len()["len"]
    assert raw["open_interest"].null_count() == sum(-(-n // 9) for n in per_root)
    greeks = lake.read(keys.table(keys.GREEKS))
    assert greeks["open_interest"].null_count() == raw["open_interest"].null_count()
    assert greeks.select(pl.col("delta", "gamma", "vega").is_nan().sum()).row(0) == (0, 0, 0)
    assert lake.read(keys.table(keys.SURFACE)).height > 10
