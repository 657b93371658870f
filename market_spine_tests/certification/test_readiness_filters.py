"""Readiness filters take every futures symbol form the platform serves: a root, a contract or
a continuous series all stand for the root readiness is kept by."""

from __future__ import annotations

import pytest

from market_spine.certification.readiness import parse_query
from market_spine.errors import InvalidInput

DATASETS = ("normalized/futures_bars_1m",)
KNOWN = ("CL", "ES", "NG", "SPX", "SPXW")


@pytest.mark.parametrize(
    ("given", "symbols"),
    [
        ("ES.c.1", ("ES",)),
        ("cl.v.0,CLJ4,cl", ("CL",)),
        ("CLJ24,ES.c.0,spxw", ("CL", "ES", "SPXW")),
    ],
)
def test_contracts_and_continuous_series_stand_for_their_root(
    given: str, symbols: tuple[str, ...]
) -> None:
    assert parse_query(None, given, None, None, DATASETS, KNOWN).symbols == symbols


def test_a_symbol_of_no_known_root_names_the_forms_taken() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_query(None, "ES.c.1,ZZ.c.0", None, None, DATASETS, KNOWN)
    said = str(refused.value)
    assert "'ZZ.c.0'" in said and "ES.c.1'" not in said and "ROOT.c.N" in said
