"""Expiry, roll and symbology rules checked against real CME/NYMEX contracts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from market_spine.errors import InvalidInput, InvalidRange, UnknownSymbol
from market_spine.markets import instruments
from market_spine.markets.instruments import (
    Contract,
    contract,
    front_contract,
    get_instrument,
    known_symbols,
    parse_local_symbol,
    roll_dates,
)


@pytest.mark.parametrize(
    ("symbol", "last_trade"),
    [
        ("CLZ4", date(2024, 11, 20)),  # Nov 25 is a Monday: 3 business days before
        ("CLF5", date(2024, 12, 19)),  # Dec 25 is a holiday: 3 before Dec 24
        ("CLG5", date(2025, 1, 21)),  # Jan 25 is a Saturday: 3 before Fri Jan 24
        ("CLM5", date(2025, 5, 20)),  # May 25 is a Sunday: 3 before Fri May 23
        ("NGZ4", date(2024, 11, 26)),  # skips Thanksgiving Nov 28
        ("NGF5", date(2024, 12, 27)),  # 3 business days before Jan 1
        ("ESZ4", date(2024, 12, 20)),
        ("ESH5", date(2025, 3, 21)),
        ("ESM5", date(2025, 6, 20)),
    ],
)
def test_last_trade_dates_of_real_contracts(symbol: str, last_trade: date) -> None:
    assert parse_local_symbol(symbol, near=date(2024, 10, 1)).last_trade_date == last_trade


def test_es_expiry_moves_before_a_good_friday_third_friday() -> None:
    # March 2008: the third Friday was Good Friday, so ESH8 expired on Thursday March 20.
    assert contract("ES", 2008, 3).last_trade_date == date(2008, 3, 20)


def test_roll_dates_follow_each_rule() -> None:
    assert contract("CL", 2024, 12).roll_date == date(2024, 11, 13)  # 5 business days
    assert contract("NG", 2024, 12).roll_date == date(2024, 11, 21)  # 3 business days
    assert contract("ES", 2024, 12).roll_date == date(2024, 12, 12)  # 8 calendar days


def test_front_contract_across_a_roll() -> None:
    assert front_contract("CL", date(2024, 11, 12)).local_symbol == "CLZ4"
    assert front_contract("CL", date(2024, 11, 13)).local_symbol == "CLF5"
    assert front_contract("es", date(2024, 12, 11)).local_symbol == "ESZ4"
    assert front_contract("ES", date(2024, 12, 12)).local_symbol == "ESH5"
    assert front_contract("NG", date(2024, 11, 20)).local_symbol == "NGZ4"
    assert front_contract("NG", date(2024, 11, 21)).local_symbol == "NGF5"


def test_roll_dates_list_first_day_on_the_new_contract() -> None:
    rolls = roll_dates("ES", date(2024, 1, 1), date(2024, 12, 31))
    assert [(d, old.local_symbol, new.local_symbol) for d, old, new in rolls] == [
        (date(2024, 3, 7), "ESH4", "ESM4"),
        (date(2024, 6, 13), "ESM4", "ESU4"),
        (date(2024, 9, 12), "ESU4", "ESZ4"),
        (date(2024, 12, 12), "ESZ4", "ESH5"),
    ]
    # Inclusive bounds: a range of exactly the roll day still reports it.
    assert len(roll_dates("CL", date(2024, 11, 13), date(2024, 11, 13))) == 1
    with pytest.raises(InvalidRange):
        roll_dates("CL", date(2024, 2, 1), date(2024, 1, 1))


def test_roll_dates_agree_with_front_contract() -> None:
    for d, old, new in roll_dates("CL", date(2024, 1, 1), date(2025, 12, 31)):
        assert front_contract("CL", d) == new
        assert front_contract("CL", date.fromordinal(d.toordinal() - 1)) == old


@pytest.mark.parametrize("symbol", ["CLZ4", "NGF5", "ESH5", "CLN9", "ESU0"])
def test_local_symbol_round_trip(symbol: str) -> None:
    assert parse_local_symbol(symbol, near=date(2024, 10, 1)).local_symbol == symbol


def test_parse_local_symbol_resolves_the_decade_near_the_reference_date() -> None:
    assert parse_local_symbol("CLZ4", near=date(2024, 10, 1)) == Contract("CL", 2024, 12)
    assert parse_local_symbol("CLZ4", near=date(2033, 6, 1)) == Contract("CL", 2034, 12)
    assert parse_local_symbol("CLZ9", near=date(2024, 10, 1)) == Contract("CL", 2019, 12)
    assert parse_local_symbol("CLZ24", near=date(2024, 10, 1)) == Contract("CL", 2024, 12)
    assert parse_local_symbol("clz4", near=date(2024, 10, 1)).root == "CL"


def test_parse_local_symbol_errors_say_what_is_expected() -> None:
    with pytest.raises(InvalidInput, match="expected ROOT"):
        parse_local_symbol("CL2024")
    with pytest.raises(UnknownSymbol):
        parse_local_symbol("XXZ4")
    with pytest.raises(InvalidInput, match="listed months"):
        parse_local_symbol("ESF5")  # ES lists only H, M, U, Z


def test_contract_rejects_unlisted_month() -> None:
    with pytest.raises(InvalidInput, match="HMUZ"):
        contract("ES", 2025, 1)
    with pytest.raises(InvalidInput, match=r"1\.\.12"):
        contract("CL", 2025, 13)


def test_unknown_symbol_message_lists_known_symbols() -> None:
    with pytest.raises(UnknownSymbol) as err:
        get_instrument("XX")
    msg = str(err.value)
    assert "'XX'" in msg and "CL, ES, NG" in msg and "instruments.toml" in msg


def test_known_symbols_and_case_insensitive_lookup() -> None:
    assert known_symbols() == ["CL", "ES", "NG"]
    assert get_instrument("cl").calendar == "CMEGlobex_CL"
    assert get_instrument("ES").listed_months == "HMUZ"


def test_register_instrument_adds_a_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instruments, "_INSTRUMENTS", dict(instruments._INSTRUMENTS))
    euro = replace(
        get_instrument("ES"),
        root="6E",
        name="Euro FX",
        calendar="CME_Currency",
        tick_size=0.00005,
        multiplier=125000,
        expiry_rule="fx_third_wednesday",
        roll_calendar_days=False,
        roll_days_before_expiry=5,
        base_price=1.08,
    )
    instruments.register_instrument(euro)
    assert "6E" in known_symbols()
    # 6EZ4: two business days before Wednesday December 18, 2024.
    assert parse_local_symbol("6EZ4", near=date(2024, 10, 1)).last_trade_date == date(2024, 12, 16)
    with pytest.raises(InvalidInput, match="already defined"):
        instruments.register_instrument(replace(euro, tick_size=0.0001))


def test_one_parser_names_a_contract_or_series_given_as_a_root() -> None:
    from market_spine.errors import UnknownSymbol
    from market_spine.markets.instruments import parse_root

    assert parse_root(" cl ", "symbol=") == "CL"
    with pytest.raises(UnknownSymbol, match=r"symbol=CLJ4: CLJ4 is a contract of CL, not a root"):
        parse_root("CLJ4", "symbol=")
    with pytest.raises(UnknownSymbol, match=r"ES.c.0 is a continuous series of ES.*--symbols ES"):
        parse_root("ES.c.0", "--symbols ")
    with pytest.raises(UnknownSymbol, match=r"--symbols XY: unknown symbol; known symbols"):
        parse_root("XY", "--symbols ")
