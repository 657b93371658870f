"""Each option check passes on the simulated chain and fails on the defect it exists for."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from market_spine.options import checks
from market_spine.options.analytics import chain_greeks, implied_forwards, with_mid
from market_spine.providers.simulated_options import SimulatedOptionMarket

DAY = date(2024, 3, 5)


@pytest.fixture(scope="module")
def chain() -> pl.DataFrame:
    market = SimulatedOptionMarket()
    raw = pl.concat([market.chain(r, DAY) for r in ("SPX", "SPXW")])
    return with_mid(raw.with_columns(trade_date=pl.lit(DAY)))


def test_clean_chain_passes_everything(chain: pl.DataFrame) -> None:
    greeks = chain_greeks(chain, implied_forwards(chain))
    for outcome in (
        checks.completeness(chain, [DAY]),
        checks.quotes(chain),
        checks.no_arbitrage(chain),
        checks.convergence(greeks),
        checks.iv_bounds(greeks),
        checks.parity(greeks),
    ):
        assert outcome.passed, outcome.metadata


def test_a_missing_expiration_fails_completeness(chain: pl.DataFrame) -> None:
    first = chain.filter(pl.col("root") == "SPXW")["expiration"].min()
    outcome = checks.completeness(chain.filter(pl.col("expiration") != first), [DAY])
    assert not outcome.passed and outcome.metadata["missing_expirations"] >= 1


def test_crossed_and_locked_quotes_fail(chain: pl.DataFrame) -> None:
    broken = (
        chain.with_row_index()
        .with_columns(
            bid=pl.when(pl.col("index") == 10).then(pl.col("ask") + 1).otherwise(pl.col("bid")),
            ask=pl.when(pl.col("index") == 20).then(pl.col("bid")).otherwise(pl.col("ask")),
        )
        .filter((pl.col("index") != 20) | (pl.col("bid") > 0))
    )
    outcome = checks.quotes(broken)
    assert not outcome.passed and outcome.metadata["crossed"] == 1


def test_a_butterfly_credit_fails_no_arbitrage(chain: pl.DataFrame) -> None:
    calls = chain.filter((pl.col("right") == "C") & (pl.col("root") == "SPX"))
    expiry = calls["expiration"].min()
    strikes = calls.filter(pl.col("expiration") == expiry).sort("strike")["strike"].to_list()
    body = strikes[len(strikes) // 2]
    rich = chain.with_columns(
        bid=pl.when(
            (pl.col("root") == "SPX")
            & (pl.col("expiration") == expiry)
            & (pl.col("right") == "C")
            & (pl.col("strike") == body)
        )
        .then(pl.col("bid") + 50)
        .otherwise(pl.col("bid"))
    )
    outcome = checks.no_arbitrage(rich)
    assert not outcome.passed and outcome.metadata["convexity_breaches"] >= 1


def test_quotes_below_intrinsic_lower_the_convergence_rate(chain: pl.DataFrame) -> None:
    cheap = chain.with_columns(
        bid=pl.col("bid") * 0.01, ask=pl.col("ask") * 0.01, mid=pl.col("mid") * 0.01
    )
    greeks = chain_greeks(cheap, implied_forwards(chain))
    outcome = checks.convergence(greeks)
    assert not outcome.passed and outcome.metadata["rate"] < 0.95
    assert outcome.metadata["unsolved_by_reason"]


def test_a_mispriced_put_breaks_parity(chain: pl.DataFrame) -> None:
    greeks = chain_greeks(chain, implied_forwards(chain))
    strike = greeks.filter(pl.col("right") == "P")["strike"].median()
    shifted = greeks.with_columns(
        mid=pl.when((pl.col("right") == "P") & (pl.col("strike") == strike))
        .then(pl.col("mid") + 25)
        .otherwise(pl.col("mid"))
    )
    outcome = checks.parity(shifted)
    assert not outcome.passed and outcome.metadata["breaches"] >= 1


def test_strikes_vanishing_overnight_fail_continuity() -> None:
    market = SimulatedOptionMarket()
    before = with_mid(
        market.chain("SPXW", date(2024, 3, 4)).with_columns(trade_date=pl.lit(date(2024, 3, 4)))
    )
    today = with_mid(market.chain("SPXW", DAY).with_columns(trade_date=pl.lit(DAY)))
    assert checks.strike_continuity(today, before).passed
    expiry = today["expiration"].max()
    thinned = today.filter((pl.col("expiration") != expiry) | (pl.col("strike") % 100 == 0))
    outcome = checks.strike_continuity(thinned, before)
    assert not outcome.passed and outcome.metadata["drops"] == 1


def test_a_calm_day_after_a_volatile_one_keeps_its_strikes() -> None:
    """The simulated short-dated vol fell from 21 % to 10 % overnight on 2021-11-24: listed
    strikes stay listed, so strike continuity holds."""
    market = SimulatedOptionMarket()
    before, day = date(2021, 11, 23), date(2021, 11, 24)
    assert market.surface(day).atm_short < 0.6 * market.surface(before).atm_short
    previous, chain = (
        market.chain("SPXW", d).with_columns(trade_date=pl.lit(d)) for d in (before, day)
    )
    outcome = checks.strike_continuity(chain, previous)
    assert outcome.passed, outcome.metadata["worst"]
