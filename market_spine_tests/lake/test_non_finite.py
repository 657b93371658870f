"""Floats without a finite value (±inf, NaN) are data like any other: the table's log stays valid
JSON, every row reads back, verification finds nothing and maintenance keeps them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from market_spine.lake import Lake
from market_spine.lake.maintenance import maintain
from market_spine.lake.verify import verify_table

DATASET = "raw/amounts"


@pytest.mark.parametrize(
    "values",
    [[1.0, math.inf], [-math.inf, 2.0], [math.nan, 3.0], [math.inf, -math.inf, math.nan]],
    ids=["inf", "minus-inf", "nan", "all"],
)
def test_non_finite_floats_leave_the_log_valid_and_read_back(
    tmp_path: Path, values: list[float]
) -> None:
    lake = Lake(tmp_path / "lake")
    rows = pl.DataFrame({"id": list(range(len(values))), "amount": values})
    lake.append(DATASET, rows)
    lake.append(DATASET, pl.DataFrame({"id": [99], "amount": [5.0]}))

    def refuse(constant: str) -> None:
        pytest.fail(f"{constant} in the table's log: not JSON")

    for entry in sorted((tmp_path / "lake" / DATASET / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            json.loads(line, parse_constant=refuse)
    expected = pl.concat([rows, pl.DataFrame({"id": [99], "amount": [5.0]})])
    assert_frame_equal(lake.read(DATASET).sort("id"), expected)
    assert not verify_table(lake, DATASET, deep=True).damaged
    maintain(lake, DATASET, retention_hours=0)
    assert_frame_equal(lake.read(DATASET).sort("id"), expected)
