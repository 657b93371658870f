"""Company check rules on a PII column: a failure names how many rows fail but never shows
their values, since check metadata reaches the warehouse and the alerts unmasked."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.checks import Subject, evaluate
from market_spine.company.config import Check, load

EMPLOYEES = load(DEFS_FOLDER / "employees" / "defs.yaml")
ROWS = pl.DataFrame(
    {"salary": [52_000.0, 9_999_999.0], "department": ["sales", "space"], "email": ["a", "b"]}
)


def _examples(check: Check) -> tuple[bool, str]:
    outcome = evaluate(check, EMPLOYEES, Subject(ROWS, None, datetime(2026, 1, 5, tzinfo=UTC)))
    return outcome.passed, str(outcome.metadata["examples"])


def test_a_pii_columns_failing_values_are_withheld_and_others_shown() -> None:
    assert EMPLOYEES.pii["salary"] == "redact"
    passed, shown = _examples(Check(kind="range", column="salary", max=1_000_000))
    assert not passed and "9999999" not in shown and "withheld" in shown
    passed, shown = _examples(
        Check(kind="accepted_values", column="email", values=["a"], severity="warn")
    )
    assert not passed and shown.startswith("withheld")
    passed, shown = _examples(
        Check(kind="accepted_values", column="department", values=["sales"], severity="warn")
    )
    assert not passed and shown == "space"


NOW = datetime(2026, 1, 5, tzinfo=UTC)
NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "check",
    [
        Check(kind="range", column="salary", min=0),
        Check(kind="range", column="salary", max=1_000_000),
        Check(kind="range", column="salary", min=0, max=1_000_000),
    ],
)
def test_nan_and_inf_fail_a_range_check_whatever_its_bounds(check: Check) -> None:
    rows = pl.DataFrame({"salary": [52_000.0, NAN, INF, -INF, None]})
    outcome = evaluate(check, EMPLOYEES, Subject(rows, None, NOW))
    # The null is not_null's to judge, not the range's.
    assert not outcome.passed and outcome.metadata["failing"] == 3


def test_nan_fails_accepted_values_and_twice_is_a_duplicate() -> None:
    orders = load(DEFS_FOLDER / "orders" / "defs.yaml")
    rows = pl.DataFrame({"amount": [1.0, NAN], "tenant": ["a", "a"], "order_id": ["1", "2"]})
    accepted = Check(kind="accepted_values", column="amount", values=[1.0, 2.0])
    assert evaluate(accepted, orders, Subject(rows, None, NOW)).metadata["failing"] == 1
    twice = pl.DataFrame({"amount": [NAN, NAN, 1.0]})
    unique = Check(kind="unique", columns=["amount"])
    assert evaluate(unique, orders, Subject(twice, None, NOW)).metadata["failing"] == 2


def test_a_key_one_capture_repeats_with_other_values_fails_unique_naming_it() -> None:
    orders = load(DEFS_FOLDER / "orders" / "defs.yaml")
    # Silver kept one row per key, so judging it alone passes; the capture held a conflict.
    silver = pl.DataFrame({"tenant": ["acme", "acme"], "order_id": ["O1", "O2"]})
    captured = pl.DataFrame(
        {
            "capture_id": ["c1"] * 5,
            "tenant": ["acme", "acme", "acme", "acme", "acme"],
            "order_id": ["O1", "O1", "O2", "O2", "O3"],
            "amount": [10.0, 12.0, 5.0, 5.0, 1.0],
        }
    )
    unique = Check(kind="unique", columns=["tenant", "order_id"])
    outcome = evaluate(unique, orders, Subject(silver, None, NOW, captured))
    assert not outcome.passed and outcome.metadata["failing"] == 1
    assert outcome.metadata["conflicting_keys"] == "tenant=acme, order_id=O1"
    # The same rows sent twice, identically, are one record: no failure.
    identical = captured.filter(pl.col("order_id") != "O1")
    assert evaluate(unique, orders, Subject(silver, None, NOW, identical)).passed
