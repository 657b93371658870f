"""A day of SPX/SPXW options materialized end to end through the fake ThetaTerminal over HTTP:
the same chain as the simulated source, within the tier's concurrency, faults absorbed."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl

from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal, Fault
from market_spine.lake import Lake
from market_spine.options import keys
from market_spine.providers.resource import MarketDataResource
from market_spine.providers.simulated_options import SimulatedOptionMarket
from market_spine.runs.launch import materialize_options
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
