"""Certification of option EOD chains through a real Dagster instance and Delta lake: a chain
captured before 17:15 ET is preliminary; the next capture after it certifies the day."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
import pytest

from market_spine.certification.tables import CERTIFICATIONS, REVISIONS
from market_spine.client import Spine
from market_spine.errors import NotCertified
from market_spine.lake import Lake
from market_spine.options import keys
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import materialize_options
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)


def certification_of(instance: dg.DagsterInstance) -> str:
    event = instance.get_latest_materialization_event(keys.NORMALIZED_CHAIN)
    return event.asset_materialization.metadata["certification"].value


def test_a_chain_is_preliminary_until_17_15_eastern_then_certified(home, instance) -> None:
    settings = settings_for(home)
    at_close = MarketDataResource(frozen_now="2024-03-05T21:30:00Z")  # 16:30 ET
    run = materialize_options(settings, DAY, DAY, instance=instance, market=at_close)
    assert run is not None and run.success
    assert certification_of(instance) == "preliminary"
    lake = Lake(home / "lake")
    chain = pl.col("dataset") == "normalized/options_chain_eod"
    [first] = lake.read(CERTIFICATIONS).filter(chain).to_dicts()
    assert (first["dataset"], first["partition"], first["symbol"]) == (
        "normalized/options_chain_eod",
        "2024-03-05",
        None,
    )
    assert first["state"] == "preliminary"
    assert first["final_at"].isoformat() == "2024-03-05T22:15:00+00:00"
    spine = Spine(home)
    assert spine.chain("SPXW", DAY)["certification"].unique().to_list() == ["preliminary"]
    with pytest.raises(NotCertified, match=r"2024-03-05 \(preliminary\)"):
        spine.chain("SPXW", DAY, certified_only=True)

    evening = MarketDataResource(frozen_now="2024-03-05T22:30:00Z")  # 17:30 ET
    run = materialize_options(settings, DAY, DAY, instance=instance, market=evening)
    assert run is not None and run.success
    assert certification_of(instance) == "certified"
    states = lake.read(CERTIFICATIONS).filter(chain).sort("recorded_at")
    assert states["state"].to_list() == ["preliminary", "certified"]
    assert states.filter(pl.col("state") == "certified")["delta_version"].item() == 1
    # The EOD chain the source serves did not change: the new capture is no revision.
    assert not lake.exists(REVISIONS)
    assert spine.chain("SPX", DAY, certified_only=True)["certification"].unique().to_list() == [
        "certified"
    ]
