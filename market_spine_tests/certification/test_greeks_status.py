"""A read of the option greeks carries the greeks' own certification, as readiness shows it,
not the chain's they were computed from: a chain certified after its greeks were computed
leaves them preliminary until they are computed again."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
import pytest

from market_spine.client import OPTION_GREEKS, Spine
from market_spine.errors import NotCertified
from market_spine.options import keys
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import domain_assets, materialize_options, resources
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)
AT_CLOSE = "2024-03-05T21:30:00Z"  # 16:30 ET: before the EOD chain is final
EVENING = "2024-03-05T22:30:00Z"  # 17:30 ET


def evening_run(home, instance: dg.DagsterInstance, selection: list[dg.AssetKey]) -> None:
    settings = settings_for(home)
    result = dg.materialize(
        domain_assets(settings, "options"),
        selection=selection,
        partition_key=DAY.isoformat(),
        resources=resources(settings, MarketDataResource(frozen_now=EVENING)),
        instance=instance,
    )
    assert result.success


def states(rows: pl.DataFrame) -> list[str]:
    return rows["certification"].unique().to_list()


def test_greeks_read_their_own_certification_not_the_chains(home, instance) -> None:
    market = MarketDataResource(frozen_now=AT_CLOSE)
    run = materialize_options(settings_for(home), DAY, DAY, instance=instance, market=market)
    assert run is not None and run.success
    # The chain alone is captured again after 17:15 ET: it is certified, the greeks computed
    # from its preliminary capture are not until they are computed again.
    evening_run(home, instance, [keys.RAW_CHAIN, keys.NORMALIZED_CHAIN])
    spine = Spine(home)
    ready = spine.readiness(["normalized/options_chain_eod", OPTION_GREEKS], "SPX", DAY, DAY)
    assert dict(ready.select("dataset", "state").iter_rows()) == {
        "normalized/options_chain_eod": "certified",
        OPTION_GREEKS: "preliminary",
    }
    assert states(spine.chain("SPX", DAY)) == ["preliminary"]
    with pytest.raises(NotCertified, match=r"SPX 2024-03-05 \(preliminary\)"):
        spine.chain("SPX", DAY, certified_only=True)

    evening_run(home, instance, [keys.GREEKS])
    assert states(spine.chain("SPX", DAY, certified_only=True)) == ["certified"]
    assert states(spine.chain("SPXW", DAY)) == ["certified"]
