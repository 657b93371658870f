"""The chain checks flag the contracts they find (crossed and locked quotes, arbitrage), each
with an OSI symbol and a score, so the rows can be kept beside the data; and readiness counts
what each root owes and holds."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from market_spine.certification.tables import FLAG_FINDING_SCHEMA
from market_spine.markets.expirations import traded_expirations
from market_spine.markets.osi import osi_expr
from market_spine.options import checks
from market_spine.options.analytics import chain_greeks, implied_forwards, with_mid
from market_spine.providers.simulated_options import SimulatedOptionMarket

DAY = date(2024, 3, 5)


@pytest.fixture(scope="module")
def chain() -> pl.DataFrame:
    market = SimulatedOptionMarket()
    raw = pl.concat([market.chain(r, DAY) for r in ("SPX", "SPXW")])
    return with_mid(raw.with_columns(trade_date=pl.lit(DAY))).with_columns(
        osi=osi_expr(), capture_id=pl.lit("01HCAPTURE")
    )


def test_a_clean_chain_flags_nothing(chain: pl.DataFrame) -> None:
    for outcome in (checks.quotes(chain), checks.no_arbitrage(chain)):
        assert outcome.flagged is not None and outcome.flagged.is_empty()
        assert outcome.flagged.schema == pl.Schema(FLAG_FINDING_SCHEMA)


def test_crossed_and_locked_quotes_are_flagged_by_contract(chain: pl.DataFrame) -> None:
    indexed = chain.with_row_index()
    broken = indexed.with_columns(
        bid=pl.when(pl.col("index") == 10).then(pl.col("ask") + 0.5).otherwise(pl.col("bid")),
        ask=pl.when(pl.col("index") == 20).then(pl.col("bid")).otherwise(pl.col("ask")),
    ).drop("index")
    flagged = checks.quotes(broken).flagged
    assert flagged is not None
    by_kind = {r["kind"]: r for r in flagged.to_dicts()}
    assert set(by_kind) == {"crossed_quote", "locked_quote"}
    assert by_kind["crossed_quote"]["instrument"] == indexed["osi"][10]
    assert by_kind["crossed_quote"]["value"] == pytest.approx(0.5)
    assert by_kind["crossed_quote"]["score"] == pytest.approx(1 + 0.5 / checks.ARBITRAGE_SLACK)
    assert by_kind["locked_quote"]["instrument"] == indexed["osi"][20]
    assert by_kind["locked_quote"]["symbol"] == indexed["root"][20]
    assert set(flagged["capture_id"]) == {"01HCAPTURE"} and flagged["ts"].null_count() == 2


def test_a_butterfly_credit_flags_its_body(chain: pl.DataFrame) -> None:
    calls = chain.filter((pl.col("right") == "C") & (pl.col("root") == "SPX"))
    expiry = calls["expiration"].min()
    strikes = calls.filter(pl.col("expiration") == expiry).sort("strike")["strike"].to_list()
    body = strikes[len(strikes) // 2]
    is_body = (
        (pl.col("root") == "SPX")
        & (pl.col("expiration") == expiry)
        & (pl.col("right") == "C")
        & (pl.col("strike") == body)
    )
    rich = chain.with_columns(bid=pl.when(is_body).then(pl.col("bid") + 50).otherwise("bid"))
    outcome = checks.no_arbitrage(rich)
    flagged = outcome.flagged
    assert flagged is not None
    butterflies = flagged.filter(pl.col("kind") == "butterfly_arbitrage")
    assert butterflies.height == outcome.metadata["convexity_breaches"]
    assert chain.filter(is_body)["osi"].item() in butterflies["instrument"].to_list()
    assert (flagged["score"] > 1).all()


def test_each_root_owes_the_expirations_it_trades(chain: pl.DataFrame) -> None:
    first = chain.filter(pl.col("root") == "SPXW")["expiration"].min()
    found = {
        c.root: c
        for c in checks.root_completeness(chain.filter(pl.col("expiration") != first), DAY)
    }
    spxw = found["SPXW"]
    assert spxw.expected == len(traded_expirations("SPXW", DAY))
    assert (spxw.present, spxw.missing) == (spxw.expected - 1, 1)
    assert found["SPX"].missing == 0
    assert checks.root_completeness(chain, date(2024, 3, 9))[0].expected == 0  # a Saturday


@pytest.fixture(scope="module")
def greeks(chain: pl.DataFrame) -> pl.DataFrame:
    return chain_greeks(chain, implied_forwards(chain))


def test_clean_greeks_flag_nothing(greeks: pl.DataFrame) -> None:
    for outcome in (checks.iv_bounds(greeks), checks.parity(greeks)):
        assert outcome.flagged is not None and outcome.flagged.is_empty()
        assert outcome.flagged.schema == pl.Schema(FLAG_FINDING_SCHEMA)


def test_a_parity_breach_flags_both_legs(greeks: pl.DataFrame) -> None:
    spx = greeks.filter(pl.col("root") == "SPX")
    expiry = spx["expiration"].sort()[3]
    puts = spx.filter(pl.col("expiration") == expiry, pl.col("right") == "P", pl.col("mid") > 0)
    strike = puts["strike"].sort()[puts.height // 2]
    leg = (
        (pl.col("root") == "SPX") & (pl.col("expiration") == expiry) & (pl.col("strike") == strike)
    )
    shifted = greeks.with_columns(
        mid=pl.when(leg & (pl.col("right") == "P")).then(pl.col("mid") + 25).otherwise("mid")
    )
    outcome = checks.parity(shifted)
    flagged = outcome.flagged
    assert flagged is not None and not outcome.passed
    mine = flagged.filter(pl.col("instrument").is_in(greeks.filter(leg)["osi"].implode()))
    assert mine.height == 2 and set(mine["kind"]) == {"parity_breach"}
    assert mine["value"].to_list() == pytest.approx([-25.0, -25.0], abs=1.0)
    assert (mine["score"] > 1).all()
    assert flagged.height == 2 * outcome.metadata["breaches"]


def test_vols_out_of_bounds_are_flagged_with_how_far(greeks: pl.DataFrame) -> None:
    solved = greeks.with_row_index().filter(pl.col("iv").is_not_null())
    high, low = solved["index"][0], solved["index"][1]
    wild = greeks.with_row_index().with_columns(
        iv=pl.when(pl.col("index") == high)
        .then(10.0)
        .when(pl.col("index") == low)
        .then(0.005)
        .otherwise("iv")
    )
    flagged = checks.iv_bounds(wild.drop("index")).flagged
    assert flagged is not None
    by_osi = {r["instrument"]: r for r in flagged.to_dicts()}
    assert set(by_osi) == {wild["osi"][high], wild["osi"][low]}
    assert by_osi[wild["osi"][high]]["score"] == pytest.approx(10.0 / checks.IV_BOUNDS[1])
    assert by_osi[wild["osi"][low]]["score"] == pytest.approx(checks.IV_BOUNDS[0] / 0.005)
    assert set(flagged["kind"]) == {"iv_out_of_bounds"}
