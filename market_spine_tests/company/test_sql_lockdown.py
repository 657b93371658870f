"""Spine opened with a key reads through its views only, whatever the SQL's shape: no file
function, ATTACH or COPY reaches a company table's files, a whole row read through an alias is
masked without the `pii` scope and audited with it, and a query that fails is audited as
failed, never as a read that happened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from market_spine.client import Spine
from market_spine.company.reading import CLEAR_PII_READ
from market_spine.errors import AccessRefused, InvalidInput
from market_spine.security.keys import KeyStore
from market_spine_tests.kit.audit import audit_entries
from market_spine_tests.kit.homes import settings_for

HEX64 = r"^[0-9a-f]{64}$"


def _key(home: Path, role: str, **kwargs: object) -> str:
    return KeyStore(home).create(role, name="test", **kwargs).token  # type: ignore[arg-type]


def _spine(home: Path, key: str | None = None) -> Spine:
    return Spine(settings=settings_for(home), key=key, warn_empty=False)


def _actor(key: str) -> str:
    return f"key:{key.split('_')[1]}"


def test_a_keyed_spine_cannot_read_lake_files_around_its_views(company_home: Path) -> None:
    lake = settings_for(company_home).lake()
    folder = lake.location("normalized/company_clients")
    some_file = next(Path(folder).rglob("*.parquet"))
    # The owner can: the leak a key must not have.
    owner = _spine(company_home).sql(f"select email from read_parquet('{some_file}')")
    assert owner["email"].str.contains("@").any()

    key = _key(company_home, "reader", tenant="acme")
    spine = _spine(company_home, key)
    assert spine.sql("select count(*) as n from company_clients")["n"][0] == 6
    for query in (
        f"select * from read_parquet('{some_file}')",
        f"select * from '{some_file}'",
        f"select * from read_parquet('{folder}/**/*.parquet')",
        f"select * from read_csv('{company_home}/secrets/keys.db')",
        f"select * from glob('{folder}/*')",
        f"attach '{company_home}/warehouse/x.duckdb' as w",
        f"copy (select * from company_clients) to '{company_home}/out.csv'",
        "set enable_external_access = true",
        "set allowed_directories = ['/']",
    ):
        with pytest.raises(AccessRefused, match="reads the lake through its views only"):
            spine.sql(query)
    assert not (company_home / "out.csv").exists()
    # The views still answer, masked and scoped, after every refusal.
    emails = spine.sql("select tenant, email from company_clients")
    assert set(emails["tenant"]) == {"acme"} and emails["email"].str.contains(HEX64).all()
    # Market data stays readable by its views (their files are the folders left open).
    assert "company_clients" in spine.tables()
    # The hashing key's pads are not in the connection a key reads through.
    pads = spine.sql("select getvariable('pii_hash_inner') as p")["p"].to_list()
    assert pads == [None]
    refused = [e for e in audit_entries(company_home, _actor(key)) if e[3] == "refused"]
    assert len(refused) == 9 and all(e[0] == "spine.sql" for e in refused)


def test_every_sql_shape_masks_a_whole_row_without_the_pii_scope(company_home: Path) -> None:
    spine = _spine(company_home, _key(company_home, "quant"))
    for query in (
        "select c from company_clients c",
        "select to_json(c) as c from company_clients c",
        "select c.* from company_clients c",
        "select struct_pack(e := c.email) as c from company_clients c",
        "select columns(*) from normalized.company_clients",
    ):
        text = json.dumps(spine.sql(query).to_dicts(), default=str)
        assert "@" not in text, query


def test_a_clear_whole_row_read_through_an_alias_is_audited(company_home: Path) -> None:
    key = _key(company_home, "compliance", pii=True)
    spine = _spine(company_home, key)
    columns = spine.sql("select * from company_clients limit 0").columns
    email, phone = columns.index("email") + 1, columns.index("phone") + 1
    for query in (
        "select c from company_clients c",
        "select to_json(c) as j from company_clients c where tenant = 'acme'",
        "with x as (select * from company_clients) select x from x",
        "select company_clients from company_clients",
        f"select #{email}, #{phone} from company_clients",
    ):
        rows = spine.sql(query)
        assert "@" in json.dumps(rows.to_dicts(), default=str)
    reads = [e for e in audit_entries(company_home, _actor(key)) if e[0] == CLEAR_PII_READ]
    assert [(dataset, params["columns"]) for _, dataset, params, _ in reads] == [
        ("normalized/company_clients", ["email", "phone"])
    ] * 5
    assert "select c from" in reads[0][2]["query"]


def test_a_failed_query_is_audited_as_failed(company_home: Path) -> None:
    key = _key(company_home, "quant")
    spine = _spine(company_home, key)
    with pytest.raises(InvalidInput, match="query failed"):
        spine.sql("select no_such_column from company_clients")
    spine.sql("select tenant from company_clients")
    sql = [e for e in audit_entries(company_home, _actor(key)) if e[0] == "spine.sql"]
    assert [e[3] for e in sql] == ["failed", "ok"]
    assert "no_such_column" in sql[0][2]["error"]
