"""Readiness filters take every futures symbol form the platform serves: a root, a contract
(standing for its root) or a continuous series (judged on its own, shown with its root)."""

from __future__ import annotations

import polars as pl
import pytest

from market_spine.certification.readiness import parse_query, symbol_filter
from market_spine.errors import InvalidInput

DATASETS = ("normalized/futures_bars_1m",)
KNOWN = ("CL", "ES", "NG", "SPX", "SPXW")


@pytest.mark.parametrize(
    ("given", "symbols"),
    [
        ("ES.c.1", ("ES.c.1",)),
        ("cl.V.0,CLJ4,cl", ("CL.v.0", "CL")),
        ("CLJ24,ES.c.0,spxw", ("CL", "ES.c.0", "SPXW")),
    ],
)
def test_contracts_stand_for_their_root_and_series_for_themselves(
    given: str, symbols: tuple[str, ...]
) -> None:
    assert parse_query(None, given, None, None, DATASETS, KNOWN).symbols == symbols


def test_a_symbol_of_no_known_root_names_the_forms_taken() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_query(None, "ES.c.1,ZZ.c.0", None, None, DATASETS, KNOWN)
    said = str(refused.value)
    assert "'ZZ.c.0'" in said and "ES.c.1'" not in said and "ROOT.c.N" in said


def test_a_series_shows_itself_and_its_root_and_a_root_shows_every_series() -> None:
    rows = pl.DataFrame({"symbol": ["CL", "CL.c.0", "CL.c.1", "ES", "ES.c.0"]})
    by_series = rows.filter(symbol_filter(("CL.c.0",)))["symbol"].to_list()
    by_root = rows.filter(symbol_filter(("CL",)))["symbol"].to_list()
    assert by_series == ["CL", "CL.c.0"]
    assert by_root == ["CL", "CL.c.0", "CL.c.1"]
