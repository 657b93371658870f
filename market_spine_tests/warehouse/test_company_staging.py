"""The company staging models are generated from the datasets' YAML, and mask PII in SQL exactly
as the frame path does (hash: SHA-256 of the text; redact: null)."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import polars as pl

from market_spine.company.catalog import configs
from market_spine.company.masking import masked
from market_spine.company.tables import silver_schema
from market_spine.warehouse.company_staging import STAGING_DIR, model_sql, render


def test_checked_in_models_are_the_rendered_ones() -> None:
    wanted = render()
    assert wanted, "the example company declares datasets"
    for path, text in wanted.items():
        assert path.read_text() == text, (
            "run `python -m market_spine.warehouse.company_staging` after changing a defs.yaml"
        )
    assert set(STAGING_DIR.glob("stg_company__*")) == set(wanted)


def test_sql_masking_equals_frame_masking() -> None:
    config = next(c for c in configs() if c.name == "employees")
    now = datetime(2026, 11, 30, tzinfo=UTC)
    rows = pl.DataFrame(
        {
            "tenant": ["acme"],
            "employee_id": ["E001"],
            "full_name": ["Ada Lovelace"],
            "email": ["ada@acme.example"],
            "department": ["tech"],
            "salary": [91000.0],
            "capture_id": ["01J"],
            "captured_at": [now],
            "valid_from": [now],
            "valid_to": [None],
            "is_current": [True],
        },
        schema=silver_schema(config),
    )
    con = duckdb.connect()
    con.register("silver", rows.to_arrow())
    sql = model_sql(config).split("\n", 1)[1]
    sql = sql.replace("{{ source('normalized', 'company_employees') }}", "silver")
    from_sql = con.sql(sql).pl()
    from_frame = masked(rows, config.pii)
    assert from_sql["email"].to_list() == from_frame["email"].to_list()
    assert from_sql["email"][0] != "ada@acme.example" and len(from_sql["email"][0]) == 64
    assert from_sql["full_name"][0] is None and from_sql["salary"][0] is None
    assert from_sql.schema["salary"] == pl.Float64
    assert from_sql["department"][0] == "tech"
