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
from market_spine.options.analytics import with_mid
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
