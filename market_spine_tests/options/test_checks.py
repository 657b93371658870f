"""Each option check passes on the simulated chain and fails on the defect it exists for."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from market_spine.options import checks, quote_sides
from market_spine.options.analytics import chain_greeks, implied_forwards, with_mid
from market_spine.pricing.black import NO_TIME_LEFT
from market_spine.providers.simulated_options import SimulatedOptionMarket
from market_spine_tests.kit.homes import DATA

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


def _without_offer(chain: pl.DataFrame, rows: pl.Expr) -> pl.DataFrame:
    """`chain` with the quotes selected by `rows` sent as a vendor sends a missing offer."""
    return with_mid(
        chain.with_columns(
            ask=pl.when(rows).then(0.0).otherwise(pl.col("ask")),
            ask_size=pl.when(rows).then(0).otherwise(pl.col("ask_size")),
        ).drop("mid")
    )


def test_the_case_chain_has_one_sided_quotes_and_none_crossed() -> None:
    """The 5600 call bid 0.05 with ask 0 (size 0) is no offer, not a cross: the check passes
    and counts it, as it counts the quotes without a bid."""
    chain = with_mid(pl.read_csv(DATA / "spxw_chain_one_sided.csv", try_parse_dates=True))
    outcome = checks.quotes(chain)
    assert outcome.passed, outcome.metadata
    meta = outcome.metadata
    assert (meta["crossed"], meta["locked"], meta["no_ask"]) == (0, 0, 1)
    assert meta["no_bid"] == chain.filter((pl.col("bid") <= 0) & (pl.col("ask") > 0)).height
    assert meta["one_sided"] == meta["no_ask"] + meta["no_bid"] and meta["no_bid"] > 5
    assert meta["two_sided"] + meta["one_sided"] + meta["empty"] == meta["contracts"]


def test_one_sided_quotes_are_counted_and_never_fail_the_day(chain: pl.DataFrame) -> None:
    """One-sided quotes anywhere in the chain (even where the lone bid is above where an ask
    would be) leave every quote, arbitrage and greeks check passing, and are counted."""
    every_50th = (pl.int_range(pl.len()) % 50 == 0) & (pl.col("bid") > 0)
    one_sided = _without_offer(chain, every_50th)
    greeks = chain_greeks(one_sided, implied_forwards(one_sided))
    quotes = checks.quotes(one_sided)
    assert quotes.passed and quotes.metadata["no_ask"] == chain.filter(every_50th).height
    assert quotes.metadata["crossed"] == 0
    for outcome in (
        checks.no_arbitrage(one_sided),
        checks.convergence(greeks),
        checks.iv_bounds(greeks),
        checks.parity(greeks),
    ):
        assert outcome.passed, outcome.metadata
    convergence = checks.convergence(greeks).metadata
    assert convergence["one_sided"] == quotes.metadata["one_sided"]
    # Expiring (0DTE) contracts have no time left to solve over: counted apart, never unsolved.
    expiring = greeks.filter(quote_sides.two_sided() & (pl.col("iv_reason") == NO_TIME_LEFT))
    assert convergence["expiring"] >= expiring.height > 0
    assert convergence["quoted"] + expiring.height == quotes.metadata["two_sided"]


def test_a_lone_bid_with_a_sized_ask_above_it_is_still_crossed(chain: pl.DataFrame) -> None:
    """Only a missing side is exempt: a real offer below the bid is a cross."""
    row = pl.int_range(pl.len()) == 10
    crossed = chain.with_columns(ask=pl.when(row).then(pl.col("bid") - 0.05).otherwise("ask"))
    outcome = checks.quotes(crossed.filter(pl.col("ask") > 0))
    assert not outcome.passed and outcome.metadata["crossed"] == 1


def test_intraday_quotes_without_an_offer_pass_the_quotes_check() -> None:
    """The 1-minute quotes are judged by the same rule: a minute nobody offers is one-sided."""
    from market_spine.providers.simulated_option_quotes import simulate_quotes

    minutes = simulate_quotes(SimulatedOptionMarket(), "SPXW", date(2024, 3, 8), DAY, None)
    gone = (pl.col("bid") > 0) & (pl.col("ts").dt.minute() == 30)
    quotes = minutes.with_columns(
        ask=pl.when(gone).then(0.0).otherwise("ask"),
        ask_size=pl.when(gone).then(0).otherwise("ask_size"),
    ).with_columns(trade_date=pl.lit(DAY))
    verdict = checks.judge_days(checks.RAW_QUOTES_CHECKS, quotes, [DAY])[DAY.isoformat()]
    outcome = verdict["quotes"]
    assert outcome.passed and outcome.metadata["no_ask"] == minutes.filter(gone).height > 0


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
    # Vols that do not solve leave the greeks incomplete: the day is not certified.
    [declared] = [c for c in checks.GREEKS_CHECKS if c.name == "convergence"]
    assert declared.withholds_certification(outcome)


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


def _crossing(chain: pl.DataFrame, every: int) -> pl.DataFrame:
    """`chain` with every `every`-th two-sided quote's bid moved a tick above its offer."""
    row = (pl.int_range(pl.len()) % every == 0) & (pl.col("bid") > 0) & (pl.col("ask") > 0)
    return with_mid(
        chain.with_columns(bid=pl.when(row).then(pl.col("ask") + 0.05).otherwise("bid")).drop("mid")
    )


def test_one_crossed_quote_warns_and_has_no_mid(chain: pl.DataFrame) -> None:
    """A bad print in thousands of quotes: the day is not held back, and no vol is solved from
    the middle of a quote nobody could trade at."""
    crossed = _crossing(chain, chain.height + 1)
    outcome = checks.quotes(crossed)
    assert not outcome.passed and outcome.warn_only
    assert outcome.metadata["crossed"] == 1
    assert crossed.filter(pl.col("bid") > pl.col("ask"))["mid"].is_null().all()


def test_a_feed_full_of_crossed_quotes_blocks_the_day(chain: pl.DataFrame) -> None:
    outcome = checks.quotes(_crossing(chain, 20))
    assert not outcome.passed and not outcome.warn_only
    assert outcome.metadata["crossed_or_locked_share"] > checks.MAX_CROSSED_SHARE
