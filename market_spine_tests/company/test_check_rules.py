"""Company check rules on a PII column: a failure names how many rows fail but never shows
their values, since check metadata reaches the warehouse and the alerts unmasked."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

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
