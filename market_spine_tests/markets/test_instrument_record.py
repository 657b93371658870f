"""A home keeps the instruments its data was written with: a root's table from a file named for
one command is recorded in the home's own instruments file, once, and reads back the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from market_spine.errors import InvalidInput
from market_spine.markets import instruments
from market_spine.markets.instrument_config import load_instruments, record_roots
from market_spine_tests.kit.homes import REPO

EXAMPLE = REPO / "instruments.example.toml"
POUND = """
[instruments.6B]
name = "British \\"Pound\\" Sterling"
exchange = "CME"
calendar = "CME_Currency"
tick_size = 0.0001
multiplier = 62500
currency = "USD"
listed_months = "HMUZ"
expiry_rule = "fx_third_wednesday"
roll_days_before_expiry = 5
roll_calendar_days = true
"""


@pytest.fixture(autouse=True)
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instruments, "_INSTRUMENTS", dict(instruments._INSTRUMENTS))


def _named(tmp_path: Path) -> Path:
    named = tmp_path / "elsewhere" / "roots.toml"
    named.parent.mkdir()
    named.write_text(EXAMPLE.read_text() + POUND)
    return named


def test_a_home_without_a_file_gets_only_the_roots_written(tmp_path: Path) -> None:
    named, home_file = _named(tmp_path), tmp_path / "home" / "instruments.toml"
    assert record_roots(home_file, named, ["6B", "CL"]) == ("6B",)
    [kept] = load_instruments(home_file)
    [source] = [i for i in load_instruments(named) if i.root == "6B"]
    assert kept == source
    assert f"Recorded from {named}" in home_file.read_text()
    assert record_roots(home_file, named, ["6B"]) == ()  # once


def test_a_home_file_is_appended_to_and_keeps_its_own_definitions(tmp_path: Path) -> None:
    named, home_file = _named(tmp_path), tmp_path / "home" / "instruments.toml"
    home_file.parent.mkdir()
    own = EXAMPLE.read_text().replace("base_price = 1.10", "base_price = 1.25")
    home_file.write_text(own)
    assert record_roots(home_file, named, ["6E", "6B"]) == ("6B",)
    assert home_file.read_text().startswith(own)
    kept = {i.root: i for i in load_instruments(home_file)}
    assert set(kept) == {"6E", "6B"} and kept["6E"].base_price == 1.25


def test_the_home_file_named_directly_is_left_alone(tmp_path: Path) -> None:
    home_file = tmp_path / "instruments.toml"
    home_file.write_text(EXAMPLE.read_text())
    assert record_roots(home_file, home_file, ["6E"]) == ()


def test_a_bad_home_file_is_named_and_left_untouched(tmp_path: Path) -> None:
    named, home_file = _named(tmp_path), tmp_path / "instruments.toml"
    home_file.write_text("[instruments.6E\n")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        record_roots(home_file, named, ["6B"])
    assert home_file.read_text() == "[instruments.6E\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "instruments.toml"]
