"""The company staging models are generated from the datasets' YAML, and mask PII in SQL exactly
as the frame path does (hash: HMAC-SHA-256 of the text under the home's key; redact: null)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from market_spine.company.catalog import configs
from market_spine.company.masking import masked, use_hash_key
from market_spine.company.tables import silver_schema
from market_spine.lake.store import Lake
from market_spine.warehouse.company_staging import STAGING_DIR, model_sql, render
from market_spine.warehouse.dbt_plugin.lake_views import refresh_views


def test_checked_in_models_are_the_rendered_ones() -> None:
    wanted = render()
    assert wanted, "the example company declares datasets"
    for path, text in wanted.items():
        assert path.read_text() == text, (
            "run `python -m market_spine.warehouse.company_staging` after changing a defs.yaml"
        )
    assert set(STAGING_DIR.glob("stg_company__*")) == set(wanted)


def test_warehouse_views_mask_pii_as_the_frame_path_does(tmp_path: Path) -> None:
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
    Lake(tmp_path / "lake").append("normalized/company_employees", rows)
    key = b"a home's key, 32 bytes or more..."
    con = duckdb.connect()
    use_hash_key(con, key)
    refresh_views(con, Lake(tmp_path / "lake"))
    in_warehouse = con.sql("select * from normalized.company_employees").pl()
    from_frame = masked(rows, config.pii, key)
    assert in_warehouse["email"].to_list() == from_frame["email"].to_list()
    assert in_warehouse["email"][0] != "ada@acme.example" and len(in_warehouse["email"][0]) == 64
    assert in_warehouse["full_name"][0] is None and in_warehouse["salary"][0] is None
    assert in_warehouse.schema["salary"] == pl.Float64
    assert in_warehouse["department"][0] == "tech"
    staging = model_sql(config).split("\n", 1)[1]
    staging = staging.replace(
        "{{ source('normalized', 'company_employees') }}", "normalized.company_employees"
    )
    assert con.sql(staging).pl()["email"].to_list() == from_frame["email"].to_list()

    # The view keeps no trace of the key: a connection without it reads null, not clear text.
    views = con.sql("select sql from duckdb_views() where view_name = 'company_employees'")
    assert key.hex() not in views.fetchall()[0][0]
    other = duckdb.connect()
    refresh_views(other, Lake(tmp_path / "lake"))
    assert other.sql("select email from normalized.company_employees").fetchall() == [(None,)]


def test_a_company_table_nobody_declares_gets_no_view(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.append("normalized/company_ghosts", pl.DataFrame({"email": ["ghost@acme.example"]}))
    con = duckdb.connect()
    # A view an earlier build left, reading the table in clear.
    con.execute("create schema normalized")
    con.execute("create view normalized.company_ghosts as select 'ghost@acme.example' as email")
    versions = refresh_views(con, lake)
    assert "normalized/company_ghosts" not in versions
    found = con.sql("select view_name from duckdb_views() where schema_name = 'normalized'")
    assert "company_ghosts" not in {name for (name,) in found.fetchall()}
