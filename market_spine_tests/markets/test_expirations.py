"""Index-option sessions, settlement and time to expiry on full and early-close days.

PM-settled SPXW settle on the SPX closing value, struck at the cash close: 13:00 ET on an
early-close day, when the index options themselves stop at 13:15 ET. A settlement left at 16:00
made the time to expiry 3 hours too long and the implied vols 3-7 % (relative) too low.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from market_spine.markets import expirations, special_sessions
from market_spine.markets.expirations import (
    YEAR_SECONDS,
    eod_timestamp,
    is_early_close,
    quote_minutes_expected,
    session_bounds,
    session_minutes,
    settlement,
    years_to_expiry,
)
from market_spine.options.analytics import chain_greeks, with_mid
from market_spine.pricing.black import black_price
from market_spine.providers.simulated_option_quotes import simulate_quotes
from market_spine.providers.simulated_options import SimulatedOptionMarket


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


#: expiration, the EOD it is seen from, its settlement (UTC), hours from that EOD to settlement.
EARLY_EXPIRIES = [
    (date(2024, 11, 29), date(2024, 11, 27), "2024-11-29 18:00", 44.75),
    (date(2024, 12, 24), date(2024, 12, 23), "2024-12-24 18:00", 20.75),
    (date(2025, 7, 3), date(2025, 7, 2), "2025-07-03 17:00", 20.75),
]


@pytest.mark.parametrize(("expiration", "seen", "settles", "hours"), EARLY_EXPIRIES, ids=str)
def test_spxw_settles_at_the_early_close(
    expiration: date, seen: date, settles: str, hours: float
) -> None:
    assert settlement("SPXW", expiration) == utc(settles)
    t_hours = years_to_expiry("SPXW", expiration, seen) * YEAR_SECONDS / 3600
    assert t_hours == pytest.approx(hours, abs=1e-9)


def test_christmas_eve_2024_index_options_close_at_13_15_et() -> None:
    assert session_bounds(date(2024, 12, 24)) == (utc("2024-12-24 14:30"), utc("2024-12-24 18:15"))
    assert is_early_close(date(2024, 12, 24)) and not is_early_close(date(2024, 12, 23))
    assert eod_timestamp(date(2024, 12, 24)) == utc("2024-12-24 18:15")
    # 09:30 → 13:15 ET: 225 minute bars, not 405; the expiring SPXW quotes until 13:00 ET.
    assert len(session_minutes(date(2024, 12, 24))) == 225
    after = datetime(2025, 1, 1, tzinfo=UTC)
    assert quote_minutes_expected("SPXW", date(2024, 12, 27), date(2024, 12, 24), after) == 225
    assert quote_minutes_expected("SPXW", date(2024, 12, 24), date(2024, 12, 24), after) == 210


def test_full_days_and_am_settlement_are_unchanged() -> None:
    assert settlement("SPXW", date(2024, 12, 27)) == utc("2024-12-27 21:00")
    assert settlement("SPX", date(2024, 12, 20)) == utc("2024-12-20 14:30")
    assert eod_timestamp(date(2024, 12, 23)) == utc("2024-12-23 21:15")
    assert eod_timestamp(date(2024, 12, 25)) == utc("2024-12-25 21:15")  # no session: nominal


EARLY_DAYS = [
    s.day
    for s in special_sessions.for_market(special_sessions.OPTIONS_MARKET).values()
    if s.kind == "early_close"
]


@pytest.mark.parametrize("day", EARLY_DAYS, ids=str)
def test_every_early_close_moves_settlement_and_snapshot(day: date) -> None:
    bounds = session_bounds(day)
    assert bounds is not None
    close_et = bounds[1].astimezone(settlement("SPXW", day).tzinfo)
    assert (
        settlement("SPXW", day)
        == bounds[1] - timedelta(minutes=15)
        == close_et - timedelta(minutes=15)
    )
    assert eod_timestamp(day) == bounds[1]
    assert len(session_minutes(day)) == 225


def test_implied_vol_of_an_early_close_expiry_is_the_vol_it_was_priced_with() -> None:
    """Contracts priced at 15 % vol with the true 20.75 hours to the 13:00 ET settlement: the
    chain analytics must give 15 % back, not 15 % x sqrt(20.75 / 23.75) = 14.0 %."""
    expiration, seen, forward, vol = date(2024, 12, 24), date(2024, 12, 23), 6000.0, 0.15
    t_true = 20.75 * 3600 / YEAR_SECONDS
    strikes = np.arange(5900.0, 6101.0, 25.0)
    calls = black_price(forward, strikes, t_true, vol, 1.0, True)
    chain = pl.DataFrame(
        {
            "root": "SPXW",
            "expiration": expiration,
            "trade_date": seen,
            "strike": strikes,
            "right": "C",
            "bid": calls - 0.05,
            "ask": calls + 0.05,
            "bid_size": 10,
            "ask_size": 10,
        }
    )
    priced = with_mid(chain)
    assert priced["t"].unique().to_list() == [pytest.approx(t_true)]
    forwards = pl.DataFrame(
        {"root": ["SPXW"], "expiration": [expiration], "forward": [forward], "discount": [1.0]}
    )
    iv = chain_greeks(priced, forwards)["iv"].to_numpy()
    assert np.allclose(iv, vol, atol=2e-3), iv
    assert not math.isclose(vol * math.sqrt(20.75 / 23.75), vol, abs_tol=5e-3)


def test_simulated_quotes_of_an_early_close_day_end_with_the_session() -> None:
    market = SimulatedOptionMarket()
    day = date(2024, 12, 24)
    later = simulate_quotes(market, "SPXW", date(2024, 12, 27), day)
    assert later["ts"].max().astimezone(UTC) == utc("2024-12-24 18:14")
    expiring = simulate_quotes(market, "SPXW", day, day)
    assert expiring["ts"].max().astimezone(UTC) == utc("2024-12-24 17:59")
    per_contract = expiring.group_by("strike", "right").len()["len"].unique().to_list()
    assert per_contract == [210]


def test_trading_days_agree_with_the_sessions_every_year() -> None:
    # The quick list of trading days (valid days, reviewed closures and special sessions) is
    # the sessions' days exactly, special sessions and closures included.
    for year in range(2000, date.today().year + 2):
        assert expirations._trading_days(year) == frozenset(expirations._sessions(year)), year
