"""OSI symbology and the SPX/SPXW expiration schedules."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from market_spine.errors import InvalidInput
from market_spine.markets.expirations import (
    expirations,
    listed_expirations,
    monthly_expiration,
)
from market_spine.markets.osi import OptionContract, osi_expr, osi_symbol, parse_osi


def test_osi_round_trip() -> None:
    assert osi_symbol("SPXW", date(2024, 1, 19), "C", 4700) == "SPXW  240119C04700000"
    assert osi_symbol("SPX", date(2024, 3, 15), "put", 4712.5) == "SPX   240315P04712500"
    contract = parse_osi("SPXW  240119C04700000")
    assert contract == OptionContract("SPXW", date(2024, 1, 19), "C", 4700.0)
    assert contract.osi == "SPXW  240119C04700000"


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("SPXW", date(2024, 1, 19), "X", 4700), "neither C"),
        (("SPXW", date(2024, 1, 19), "C", 0.0001), "3 decimals"),
    ],
)
def test_bad_osi_parts_are_explained(args: tuple, text: str) -> None:
    with pytest.raises(InvalidInput, match=text):
        osi_symbol(*args)


def test_malformed_osi_says_the_form() -> None:
    with pytest.raises(InvalidInput, match="SPXW  240119C04700000"):
        parse_osi("SPXW 2024-01-19 C 4700")


def test_spx_monthlies_are_third_fridays_or_the_day_before_a_holiday() -> None:
    assert monthly_expiration(2024, 1) == date(2024, 1, 19)
    assert monthly_expiration(2025, 4) == date(2025, 4, 17)  # Good Friday: Thursday
    assert expirations("SPX", date(2024, 1, 1), date(2024, 6, 30)) == [
        date(2024, 1, 19),
        date(2024, 2, 16),
        date(2024, 3, 15),
        date(2024, 4, 19),
        date(2024, 5, 17),
        date(2024, 6, 21),
    ]


def test_spxw_expires_every_trading_weekday_in_recent_years() -> None:
    week = expirations("SPXW", date(2024, 11, 25), date(2024, 11, 29))
    assert week == [date(2024, 11, 25), date(2024, 11, 26), date(2024, 11, 27), date(2024, 11, 29)]
    # Before Tuesday and Thursday expirations existed: Monday, Wednesday, Friday only.
    early = expirations("SPXW", date(2021, 3, 1), date(2021, 3, 5))
    assert early == [date(2021, 3, 1), date(2021, 3, 3), date(2021, 3, 5)]


def test_listed_expirations_follow_the_horizon_model() -> None:
    on = date(2024, 3, 4)
    spxw = listed_expirations("SPXW", on)
    assert spxw[0] == on and date(2024, 3, 5) in spxw
    assert date(2024, 6, 4) not in spxw  # a Tuesday three months out is not listed yet
    assert date(2024, 12, 20) in spxw  # a Friday within a year is
    spx = listed_expirations("SPX", on)
    assert spx[0] == date(2024, 3, 15) and len(spx) == 36
    with pytest.raises(InvalidInput, match="SPX or SPXW"):
        listed_expirations("NDX", on)


def test_frame_and_scalar_osi_agree() -> None:
    contracts = [
        OptionContract("SPXW", date(2024, 1, 19), "C", 4700.0),
        OptionContract("SPX", date(2024, 12, 20), "P", 5012.5),
        OptionContract("SPXW", date(2030, 6, 3), "C", 25.0),
    ]
    frame = pl.DataFrame(
        {
            "root": [c.root for c in contracts],
            "expiration": [c.expiration for c in contracts],
            "right": [c.right for c in contracts],
            "strike": [c.strike for c in contracts],
        }
    )
    assert frame.select(osi=osi_expr())["osi"].to_list() == [c.osi for c in contracts]
