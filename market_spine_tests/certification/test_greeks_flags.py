"""The greeks checks keep the contracts they find beside the data, through real Dagster runs
over a Delta lake: a chain whose put is mispriced breaks put-call parity, and a read of the
chain with flags marks both legs of the pair."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from market_spine.certification.tables import ANOMALY_FLAGS
from market_spine.client import OPTION_CHAIN, OPTION_GREEKS, Spine
from market_spine.lake import Lake
from market_spine.options import keys
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import launch, materialize_options
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)
EVENING = MarketDataResource(frozen_now="2024-03-05T22:30:00Z")


def _mispriced_put(lake: Lake) -> pl.DataFrame:
    """Raise one near-the-money SPX put by 25 points in the normalized chain; its OSI pair."""
    table = keys.table(keys.NORMALIZED_CHAIN)
    chain = lake.read(table, between={"trade_date": (DAY, DAY)})
    expiry = chain.filter(pl.col("root") == "SPX")["expiration"].unique().sort()[3]
    puts = chain.filter(
        pl.col("root") == "SPX", pl.col("expiration") == expiry, pl.col("right") == "P"
    ).filter(pl.col("mid") > 0)
    strike = puts["strike"].sort()[puts.height // 2]
    leg = (
        (pl.col("root") == "SPX") & (pl.col("expiration") == expiry) & (pl.col("strike") == strike)
    )
    put = leg & (pl.col("right") == "P")
    shifted = chain.with_columns(
        **{c: pl.when(put).then(pl.col(c) + 25).otherwise(c) for c in ("bid", "ask", "mid")}
    )
    lake.replace(table, shifted, between={"trade_date": (DAY, DAY)}, partition_by=["root"])
    return chain.filter(leg).select("osi")


def test_a_parity_breach_is_flagged_on_both_legs_of_the_chain(
    home: Path, instance: dg.DagsterInstance
) -> None:
    settings = settings_for(home)
    run = materialize_options(settings, DAY, DAY, instance=instance, market=EVENING)
    assert run is not None and run.success
    spine = Spine(home, warn_empty=False)
    clean = spine.chain("SPX", DAY, flags=True)
    assert clean["flag_kinds"].null_count() == clean.height

    legs = _mispriced_put(spine.lake)
    rerun = launch(
        settings,
        [keys.GREEKS],
        instance=instance,
        partition_range=(DAY.isoformat(), DAY.isoformat()),
        market=EVENING,
    )
    assert rerun.success
    flags = spine.lake.read(ANOMALY_FLAGS).filter(pl.col("dataset") == OPTION_GREEKS)
    assert set(flags["check_name"]) == {"parity"}
    assert set(legs["osi"]) <= set(flags["instrument"])
    chain = spine.chain("SPX", DAY, flags=True)
    marked = chain.filter(pl.col("flag_kinds").is_not_null())
    assert set(legs["osi"]) <= set(marked["osi"])
    assert set(marked["flag_kinds"]) == {"parity_breach"}
    assert (marked["flag_score"] > 1).all()
    # The chain's own checks found nothing: the flags came from the greeks' checks alone.
    assert spine.lake.read(ANOMALY_FLAGS).filter(pl.col("dataset") == OPTION_CHAIN).is_empty()
