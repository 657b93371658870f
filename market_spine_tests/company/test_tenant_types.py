"""A key's tenant is text; a tenant column may be an integer: the tenant compares in the
column's type, and a tenant naming no value of that type sees no row."""

from __future__ import annotations

import duckdb
import polars as pl

from market_spine.company.masking import for_tenant, scoped_view_sql

ROWS = pl.DataFrame({"org": [1, 1, 2], "amount": [10.0, 11.0, 20.0]})


def test_an_integer_tenant_column_keeps_the_tenants_rows() -> None:
    assert for_tenant(ROWS, "org", "1")["amount"].to_list() == [10.0, 11.0]
    assert for_tenant(ROWS, "org", "acme").is_empty()


def test_the_sql_view_of_an_integer_tenant_column_keeps_the_tenants_rows() -> None:
    columns = [("org", pl.Int64()), ("amount", pl.Float64())]
    con = duckdb.connect()
    con.register("t", ROWS.to_arrow())
    one = con.sql(scoped_view_sql(columns, {}, "SELECT * FROM t", "org", "1")).pl()
    acme = con.sql(scoped_view_sql(columns, {}, "SELECT * FROM t", "org", "acme")).pl()
    assert one["amount"].to_list() == [10.0, 11.0]
    assert acme.is_empty()
