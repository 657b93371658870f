"""A time-zone abbreviation given where an IANA zone is wanted is answered with the zone a user
means and why the abbreviation will not do: `CST` never suggests `UCT`, and `EST` (which tzdata
keeps as a fixed UTC-5) is not taken at its word; names of UTC itself are UTC."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from market_spine.errors import InvalidDate
from market_spine.markets.dates import parse_time_zone


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("CST", "America/Chicago"),
        ("cdt", "America/Chicago"),
        ("CT", "America/Chicago"),
        ("EST", "America/New_York"),
        ("EDT", "America/New_York"),
        ("ET", "America/New_York"),
        ("PST", "America/Los_Angeles"),
        ("GMT", "Europe/London"),
        ("BST", "Europe/London"),
        ("CET", "Europe/Berlin"),
        ("EST5EDT", "America/New_York"),
    ],
)
def test_an_abbreviation_names_the_zone_meant_and_why(given: str, meant: str) -> None:
    with pytest.raises(InvalidDate) as refused:
        parse_time_zone(given)
    said = str(refused.value)
    assert f"--tz {given!r} is an abbreviation" in said
    assert f"pass --tz {meant}" in said
    assert "standard or summer time" in said
    assert "UCT" not in said


def test_an_ambiguous_abbreviation_names_each_clock_it_may_mean() -> None:
    with pytest.raises(InvalidDate) as refused:
        parse_time_zone(" CST ", option="--clock")
    said = str(refused.value)
    assert "--clock 'CST' is an abbreviation (US Central standard time, and China's" in said
    assert "pass --clock America/Chicago (or Asia/Shanghai or America/Havana)" in said


@pytest.mark.parametrize("given", ["UTC", "utc", "Z", "UCT", "Etc/UTC", "Zulu", "GMT0"])
def test_names_of_utc_itself_are_utc(given: str) -> None:
    assert parse_time_zone(given) == ZoneInfo("UTC")


def test_a_misspelt_zone_is_offered_place_names_not_legacy_abbreviations() -> None:
    with pytest.raises(InvalidDate) as refused:
        parse_time_zone("America/Chicgo")
    said = str(refused.value)
    assert "did you mean America/Chicago" in said
    with pytest.raises(InvalidDate) as refused:
        parse_time_zone("CSTX")
    assert "UCT" not in str(refused.value) and "EST" not in str(refused.value)
