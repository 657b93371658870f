"""Continuous symbols and the roll window (date logic, no data)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from market_spine.errors import InvalidInput, UnknownSymbol
from market_spine.markets import calendars, instruments, rolls


def test_continuous_symbols_parse_and_name_themselves() -> None:
    s = rolls.continuous_symbol("es.v.1")
    assert (s.root, s.rule, s.rank, s.name) == ("ES", "volume", 1, "ES.v.1")
    assert [x.name for x in rolls.series_of("CL")] == ["CL.c.0", "CL.c.1", "CL.v.0", "CL.v.1"]
    assert rolls.is_continuous("ES.n.0") and not rolls.is_continuous("ESZ4")


@pytest.mark.parametrize(
    ("text", "says"), [("ES.n.0", "open-interest"), ("ES.c.2", "not served"), ("ESZ4", "not a")]
)
def test_unserved_continuous_symbols_are_refused_with_the_forms(text: str, says: str) -> None:
    with pytest.raises(UnknownSymbol, match=says):
        rolls.continuous_symbol(text)


def test_the_roll_window_is_the_sessions_before_the_calendar_roll() -> None:
    roll_day, old, new = instruments.roll_dates("CL", date(2024, 3, 1), date(2024, 3, 31))[0]
    before = calendars.trading_days("CL", date(2024, 2, 20), roll_day)[:-1]
    inside = [d for d in before if rolls.in_roll_window("CL", d)]
    assert inside == before[-rolls.ROLL_WINDOW_DAYS :]
    assert rolls.business_days_to_roll("CL", before[-1]) == 1
    assert rolls.captured_contracts("CL", before[-1]) == [
        old,
        new,
        instruments.next_contract(new),
    ]
    assert rolls.captured_contracts("CL", before[0]) == [old, new]
    assert rolls.captured_contracts("CL", roll_day)[0] == new


@pytest.mark.parametrize(
    ("text", "root"),
    [("cl", "CL"), ("CLJ4", "CL"), ("NGK24", "NG"), ("ES.c.1", "ES"), ("es.v.0", "ES")],
)
def test_every_futures_symbol_form_names_its_root(text: str, root: str) -> None:
    assert rolls.root_of(text) == root


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("XX", "known symbols are CL, ES, NG"),
        ("ZZJ4", "'ZZJ4'"),
        ("CL.x.9", "ROOT.c.N"),
        ("ESJ4", "does not list month 4"),
    ],
)
def test_a_symbol_of_no_root_says_why(text: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(says)):
        rolls.root_of(text)


@pytest.mark.parametrize("text", ["ES.C.1", "es.C.1", " ES.c.1 ", "Es.c.01"])
def test_a_series_kind_in_any_case_is_one_name_everywhere(text: str) -> None:
    from market_spine.certification.readiness import parse_symbols
    from market_spine.providers.file_formats import calendar_contract, group_symbol

    assert instruments.series_name(text) == "ES.c.1"
    assert rolls.continuous_symbol(text).name == "ES.c.1" and rolls.is_continuous(text)
    assert rolls.root_of(text) == "ES"
    assert parse_symbols(text, ["CL", "ES"]) == ("ES.c.1",)
    # An import's --symbol and a DBN file's symbols are read the same way.
    assert group_symbol(text) == ("continuous", "ES")
    assert calendar_contract(text, "2024-03-05") == "ESM4"
    assert instruments.series_name("ESM4") is None and instruments.series_name("ES") is None
