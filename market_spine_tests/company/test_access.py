"""Company datasets as each identity may see them, on every path (the HTTP API in JSON and CSV,
the catalog, Spine opened with a key and its SQL): personal data masked without the `pii`
scope and every clear read audited; a tenant-bound key sees its tenant's rows and nothing else."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from market_spine.audit.recorder import flush_all
from market_spine.audit.store import AuditStore
from market_spine.catalog.vocabulary import UnknownDataset
from market_spine.client import Spine
from market_spine.company.masking import digest
from market_spine.company.reading import CLEAR_PII_READ
from market_spine.errors import InvalidInput
from market_spine.security.keys import KeyStore
from market_spine.security.pii_hash_key import pii_hash_key
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

HEX64 = r"^[0-9a-f]{64}$"


def _key(home: Path, role: str, **kwargs: object) -> str:
    return KeyStore(home).create(role, name="test", **kwargs).token  # type: ignore[arg-type]


def _get(client, path: str, key: str, **params: str):
    return client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})


def _clear_reads(home: Path) -> list[tuple]:
    flush_all()
    store = AuditStore(home)
    try:
        return [row for chunk in store.rows(action=CLEAR_PII_READ) for row in chunk]
    finally:
        store.close()


def test_quant_sees_masked_emails_compliance_sees_them_clear(company_home: Path) -> None:
    quant = _key(company_home, "quant")
    compliance = _key(company_home, "compliance", pii=True)
    before = len(_clear_reads(company_home))
    with serving(company_home) as client:
        masked = _get(client, "/v1/datasets/clients", quant)
        clear = _get(client, "/v1/datasets/clients", compliance)
        masked_csv = _get(client, "/v1/datasets/employees", quant, format="csv")
        entry = _get(client, "/v1/catalog/normalized/company_clients", quant)
    assert masked.status_code == 200 and clear.status_code == 200
    masked_rows, clear_rows = masked.json()["data"], clear.json()["data"]
    assert len(masked_rows) == len(clear_rows) == 12
    assert all(pl.Series([r["email"] for r in masked_rows]).str.contains(HEX64))
    assert all(r["phone"] is None for r in masked_rows)
    assert {r["email"] for r in clear_rows} >= {"buyer1@acme-client1.example"}
    assert not any("@" in r["email"] for r in masked_rows)
    # Keyed: a known email's plain SHA-256 does not find its row.
    key = pii_hash_key(company_home)
    clear_emails = {r["email"] for r in clear_rows}
    assert {r["email"] for r in masked_rows} == {digest(e, key) for e in clear_emails}
    assert not {r["email"] for r in masked_rows} & {
        hashlib.sha256(e.encode()).hexdigest() for e in clear_emails
    }
    employees = pl.read_csv(io.BytesIO(masked_csv.content))
    assert employees["salary"].null_count() == employees.height
    assert employees["full_name"].null_count() == employees.height
    assert entry.json()["masked_columns"] == {"email": "hash", "phone": "redact"}

    reads = _clear_reads(company_home)
    assert len(reads) == before + 1
    compliance_id = compliance.split("_")[1]
    assert any(f"key:{compliance_id}" in map(str, row) for row in reads)

    # Spine opened with a key: the same masking in frames and in SQL views.
    spine = Spine(settings=settings_for(company_home), key=quant)
    assert not spine.dataset("clients")["email"].str.contains("@").any()
    emails = spine.sql("select email from company_clients")["email"]
    assert emails.str.contains(HEX64).all()
    assert set(emails) == set(spine.dataset("clients")["email"])
    clear_spine = Spine(settings=settings_for(company_home), key=compliance)
    assert clear_spine.sql("select email from company_clients")["email"].str.contains("@").all()


def test_clear_pii_read_through_sql_is_audited_under_the_key(company_home: Path) -> None:
    compliance = _key(company_home, "compliance", pii=True)
    actor = f"key:{compliance.split('_')[1]}"
    quant = _key(company_home, "quant")

    def mine() -> list[tuple[str, dict]]:
        rows = [r for r in _clear_reads(company_home) if r[2] == actor]
        return [(r[4], json.loads(r[5])) for r in rows]

    spine = Spine(settings=settings_for(company_home), key=compliance)
    assert spine.sql("select tenant from company_clients").height  # no PII column read
    assert mine() == []
    spine.sql("select lower(email) as e from company_clients where tenant = 'acme'")
    spine.sql(
        "with c as (select * exclude (email) from normalized.company_clients) "
        "select c.phone, o.order_id from c join company_orders o using (tenant)"
    )
    reads = mine()
    assert [(dataset, params["columns"]) for dataset, params in reads] == [
        ("normalized/company_clients", ["email"]),
        ("normalized/company_clients", ["phone"]),
    ]
    assert reads[0][1]["rows"] == 6 and "lower(email)" in reads[0][1]["query"]

    # Through a view of the reader's own: its making, and each read of it, are on record.
    spine.sql("create view mine as select email, tenant from company_clients")
    assert spine.sql("select tenant from mine where false").is_empty()
    spine.sql("select m.email from mine m")
    made, read = mine()[2:]
    assert made[0] == read[0] == "normalized/company_clients"
    assert "create view" in made[1]["query"] and "email" in made[1]["columns"]
    assert read[1]["columns"] == ["email"] and read[1]["rows"] == 12

    # A key without the pii scope reads masked values: nothing in clear to audit.
    before = len(_clear_reads(company_home))
    Spine(settings=settings_for(company_home), key=quant).sql("select email from company_clients")
    assert len(_clear_reads(company_home)) == before


def test_a_clear_read_is_audited_with_the_rows_answered_and_listed_at_once(
    company_home: Path,
) -> None:
    compliance = _key(company_home, "compliance", pii=True)
    actor = f"key:{compliance.split('_')[1]}"
    with serving(company_home) as client:
        page = _get(client, "/v1/datasets/clients", compliance, limit="2", offset="1")
        assert page.status_code == 200 and len(page.json()["data"]) == 2
        # Straight after the read, before the recorder's background write.
        listed = _get(client, "/v1/audit", compliance, action=CLEAR_PII_READ, actor=actor)
    assert listed.status_code == 200, listed.text
    (entry,) = listed.json()["entries"]
    assert entry["dataset"] == "normalized/company_clients"
    assert entry["params"]["rows"] == 2  # of 12 the key may see
    assert entry["params"]["columns"] == ["email", "phone"]


def test_a_tenant_key_sees_only_its_rows_on_every_path(company_home: Path) -> None:
    acme = _key(company_home, "reader", tenant="acme")
    globex_pii = _key(company_home, "compliance", tenant="globex", pii=True)
    with serving(company_home) as client:
        rows = _get(client, "/v1/datasets/orders", acme).json()["data"]
        csv = pl.read_csv(
            io.BytesIO(_get(client, "/v1/datasets/clients", acme, format="csv").content)
        )
        arrow = _get(client, "/v1/datasets/clients", globex_pii, format="arrow")
        listing = _get(client, "/v1/catalog", acme).json()["datasets"]
        entry = _get(client, "/v1/catalog/normalized/company_clients", acme).json()
        everyone = _get(
            client, "/v1/catalog/normalized/company_clients", _key(company_home, "reader")
        )
        unknown = _get(client, "/v1/datasets/nothing", acme)
        clients = {"dataset": "normalized/company_clients"}
        acme_ready = _get(client, "/v1/readiness", acme, **clients).json()["data"]
        owner_ready = _get(client, "/v1/readiness", _key(company_home, "reader"), **clients).json()[
            "data"
        ]
        revisions = _get(
            client,
            "/v1/revisions",
            _key(company_home, "quant", tenant="acme"),
            dataset="normalized/company_orders",
        )
    assert rows and {r["tenant"] for r in rows} == {"acme"} and len(rows) == 8
    assert set(csv["tenant"]) == {"acme"} and csv.height == 6
    import pyarrow as pa

    globex = pl.from_arrow(pa.ipc.open_stream(arrow.content).read_all())
    assert set(globex["tenant"]) == {"globex"} and globex["email"].str.contains("@").all()
    counts = {d["name"]: d["facts"].get("rows") for d in listing}
    assert counts["normalized/company_clients"] == 6 and counts["normalized/company_orders"] == 8
    assert entry["facts"]["rows"] == 6 and everyone.json()["facts"]["rows"] == 12
    assert (
        unknown.status_code == 404 and "acme" not in unknown.text and "globex" not in unknown.text
    )
    assert revisions.status_code == 403 and "every tenant" in revisions.text
    # Readiness says a company table's state to a tenant, counting only its own rows.
    (ready,) = acme_ready
    assert ready["state"] == "certified" and ready["present"] == 6
    assert owner_ready[0]["present"] == 12

    spine = Spine(settings=settings_for(company_home), key=acme)
    assert set(spine.dataset("employees")["tenant"]) == {"acme"}
    assert spine.sql("select distinct tenant from company_orders")["tenant"].to_list() == ["acme"]
    assert spine.sql("select count(*) as n from raw_company_clients")["n"][0] == 6
    catalog = spine.catalog().filter(pl.col("name") == "normalized/company_clients")
    assert catalog["rows"][0] == 6
    assert spine.readiness(dataset="normalized/company_clients")["present"].to_list() == [6]
    with pytest.raises(InvalidInput, match="bound to tenant acme"):
        spine.warehouse_sql("select 1")


def test_dataset_scope_is_enforced(company_home: Path) -> None:
    futures_only = KeyStore(company_home).create("reader", ("normalized/futures_*",)).token
    with serving(company_home) as client:
        refused = _get(client, "/v1/datasets/clients", futures_only)
    assert refused.status_code == 403 and "normalized/company_clients" in refused.text


def test_an_unknown_dataset_names_only_those_the_key_may_read(company_home: Path) -> None:
    orders_only = KeyStore(company_home).create("reader", ("normalized/company_orders",)).token
    futures_only = KeyStore(company_home).create("reader", ("normalized/futures_*",)).token
    with serving(company_home) as client:
        unknown = _get(client, "/v1/datasets/cients", orders_only)
        none = _get(client, "/v1/datasets/cients", futures_only)
    assert unknown.status_code == 404 and "orders" in unknown.text
    for hidden in ("clients", "employees", "suppliers"):
        assert hidden not in unknown.text
    assert none.status_code == 404 and "no company dataset" in none.text
    assert "orders" not in none.text
    spine = Spine(settings=settings_for(company_home), key=orders_only)
    with pytest.raises(UnknownDataset, match=r"you may read are orders$"):
        spine.dataset("cients")


def test_key_files_from_before_tenants_stay_readable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "secrets").mkdir(parents=True)
    path = home / "secrets" / "keys.db"
    with sqlite3.connect(path) as con:
        con.execute(
            "create table api_keys (id text primary key, name text not null, role text not null,"
            " datasets text not null, hash text not null, created_at text not null,"
            " expires_at text, revoked_at text)"
        )
        con.execute(
            "insert into api_keys values ('0123456789abcdef', 'old', 'reader', '[\"*\"]', 'x',"
            " '2026-01-01T00:00:00+00:00', null, null)"
        )
    store = KeyStore(home)
    (old,) = store.list()
    assert old.tenant is None and old.pii is False and old.role == "reader"
    new = store.create("reader", tenant="acme").record
    assert new.identity().tenant == "acme"


def test_a_daily_datasets_catalog_entry_names_its_newest_partition(company_home: Path) -> None:
    catalog = Spine(settings=settings_for(company_home)).catalog()
    orders = catalog.filter(pl.col("name") == "normalized/company_orders").row(0, named=True)
    assert orders["newest_partition"] == date(2026, 11, 26)
    with serving(company_home) as client:
        entry = client.get("/v1/catalog/normalized/company_orders").json()
    assert entry["facts"]["newest_partition"] == "2026-11-26"


def test_no_table_wide_fact_reaches_a_tenant_key_in_the_catalog(company_home: Path) -> None:
    from market_spine.company.catalog import company_spec
    from market_spine.company.tenancy import MARKET_LAYERS, shared_tables

    keys = {t: _key(company_home, "reader", tenant=t) for t in ("acme", "globex")}
    every = _key(company_home, "reader")
    with serving(company_home) as client:
        whole = {
            d["name"]: d["facts"] for d in _get(client, "/v1/catalog", every).json()["datasets"]
        }
        seen = {
            tenant: {
                d["name"]: d["facts"] for d in _get(client, "/v1/catalog", key).json()["datasets"]
            }
            for tenant, key in keys.items()
        }
        entries = {
            tenant: _get(client, "/v1/catalog/normalized/company_orders", key).json()["facts"]
            for tenant, key in keys.items()
        }
    assert whole["normalized/company_orders"]["delta_version"] is not None
    assert whole["raw/company_clients"]["files"] and whole["raw/company_clients"]["last_commit"]
    # Counted from the tenant's own rows; every other figure of a table holding (or about)
    # every tenant's rows would say what the other tenant wrote.
    own = {"rows", "newest_partition"}
    what_it_is = {"materialized", "column_types", "note"}
    market = [
        name
        for name in whole
        if company_spec(name) is None
        and name not in shared_tables()
        and name.split("/", 1)[0] in MARKET_LAYERS
    ]
    for name, facts in whole.items():
        if name in market:
            continue
        for tenant, listing in seen.items():
            shown = {k: v for k, v in listing[name].items() if k not in own | what_it_is}
            assert set(shown) == set(facts) - own - what_it_is, (tenant, name)
            assert all(v is None for v in shown.values()), (tenant, name, shown)
    for tenant, entry in entries.items():
        assert entry == seen[tenant]["normalized/company_orders"], tenant
        assert entry["delta_version"] is None and entry["last_commit"] is None
    assert entries["acme"]["rows"] == 8 < whole["normalized/company_orders"]["rows"]
