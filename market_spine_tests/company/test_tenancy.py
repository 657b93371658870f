"""Tenant isolation fails closed, with two tenants and nothing leaking: a dataset not split by
tenant is refused to a tenant-bound key on every path, the platform's shared tables keep to
rows about tenant-free datasets through SQL, a company table no YAML declares gets no clear
view, and every refusal is on the audit trail."""

from __future__ import annotations

import io
import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.catalog.registry import CATALOG
from market_spine.client import Spine
from market_spine.company.catalog import COMPANY_DATASETS
from market_spine.company.definitions import build_definitions
from market_spine.company.home_defs import home_folder, use_home
from market_spine.company.tenancy import (
    REFUSED,
    TenantColumnWarning,
    known_tenants,
    tenant_free,
)
from market_spine.errors import AccessRefused
from market_spine.lake.resource import LakeResource
from market_spine.security.keys import KeyStore
from market_spine.warehouse.quality import check_results
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.audit import audit_entries
from market_spine_tests.kit.homes import settings_for

TYPE = "type: market_spine.company.component.CompanyDataset\n"
#: Values only the second tenant's rows hold: none may reach a key bound to the first.
SECRETS = ("globex-secret-region", "globex-secret-note")

CONTRACTS = """attributes:
  name: contracts
  description: Contracts each tenant signed.
  owner: team:legal
  kind: dimension
  source: {kind: files, path: drop, format: csv, pattern: "*.csv"}
  columns:
    - {name: tenant, type: string, description: Whose contract it is.}
    - {name: contract_id, type: string, description: The contract.}
    - {name: region, type: string, description: Where it applies.}
  keys: [tenant, contract_id]
  tenant_column: tenant
  checks:
    - {kind: accepted_values, column: region, values: [emea, amer], severity: warn}
"""
NOTES = """attributes:
  name: notes
  description: Notes on accounts, one table for every tenant.
  owner: team:legal
  kind: dimension
  source: {kind: files, path: drop, format: csv, pattern: "*.csv"}
  columns:
    - {name: tenant, type: string, description: Whose account the note is on.}
    - {name: note_id, type: string, description: The note.}
    - {name: body, type: string, description: What it says.}
  keys: [note_id]
"""
GHOST = """attributes:
  name: ghost
  description: People, declared once and then no more.
  owner: team:legal
  kind: dimension
  source: {kind: files, path: drop, format: csv, pattern: "*.csv"}
  columns:
    - {name: person_id, type: string, description: The person.}
    - {name: email, type: string, description: Their email., pii: hash}
  keys: [person_id]
"""
DROPS = {
    "contracts": "tenant,contract_id,region\nacme,K1,emea\nglobex,K2,globex-secret-region\n",
    "notes": "tenant,note_id,body\nacme,N1,acme note\nglobex,N2,globex-secret-note\n",
    "ghost": "person_id,email\nG1,ghost@secret.example\n",
}


def _declare(home: Path, name: str, attributes: str) -> None:
    folder = home_folder(home) / name
    (folder / "drop").mkdir(parents=True)
    (folder / "defs.yaml").write_text(TYPE + attributes)
    (folder / "drop" / f"{name}.csv").write_text(DROPS[name])


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home declaring its own datasets (contracts split by tenant, notes not, ghost whose
    YAML is then removed), loaded with their checks collected into `quality/check_results`."""
    home = tmp_path_factory.mktemp("tenancy") / "home"
    for name, attributes in (("contracts", CONTRACTS), ("notes", NOTES), ("ghost", GHOST)):
        _declare(home, name, attributes)
    company, entries = list(COMPANY_DATASETS), dict(CATALOG.entries)
    settings = settings_for(home)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TenantColumnWarning)
        defs = build_definitions(settings)
    assets = [
        a
        for a in defs.assets or []
        if any(n in a.key.to_user_string() for n in ("contracts", "notes", "ghost"))
    ]
    resources = {"lake": LakeResource(root=str(settings.lake_root))}
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize(assets, resources=resources, instance=instance).success
    assert dg.materialize([check_results], resources=resources, instance=instance).success
    COMPANY_DATASETS[:] = company
    CATALOG.entries.clear()
    CATALOG.entries.update(entries)
    shutil.rmtree(home_folder(home) / "ghost")
    yield home


def _key(home: Path, role: str = "reader", **kwargs: object) -> str:
    return KeyStore(home).create(role, name="test", **kwargs).token  # type: ignore[arg-type]


def _get(client, path: str, key: str, **params: str):
    return client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})


def _spine(home: Path, key: str | None = None) -> Spine:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TenantColumnWarning)
        return Spine(settings=settings_for(home), key=key, warn_empty=False)


def test_a_dataset_not_split_by_tenant_is_refused_to_a_tenant_key_on_every_path(
    home: Path,
) -> None:
    acme, everyone = _key(home, tenant="acme"), _key(home)
    with serving(home) as client:
        refused = _get(client, "/v1/datasets/notes", acme)
        exported = _get(client, "/v1/datasets/notes", acme, format="csv")
        listing = _get(client, "/v1/catalog", acme).json()["datasets"]
        entry = _get(client, "/v1/catalog/normalized/company_notes", acme).json()
        whole = _get(client, "/v1/datasets/notes", everyone)
        split = _get(client, "/v1/datasets/contracts", acme, format="csv")
    for answer in (refused, exported):
        assert answer.status_code == 403
        assert "normalized/company_notes" in answer.text and "tenant_column" in answer.text
        assert "globex" not in answer.text
    counts = {d["name"]: d["facts"].get("rows") for d in listing}
    assert counts["normalized/company_notes"] is None and entry["facts"]["rows"] is None
    assert counts["normalized/company_contracts"] == 1
    assert whole.status_code == 200 and len(whole.json()["data"]) == 2
    assert pl.read_csv(io.BytesIO(split.content))["tenant"].to_list() == ["acme"]

    spine = _spine(home, acme)
    with pytest.raises(AccessRefused, match=r"normalized/company_notes.*tenant_column"):
        spine.dataset("notes")
    for query in (
        "select * from company_notes",
        "select count(*) from raw.company_notes",
        "create table mine as select body from normalized.company_notes",
    ):
        with pytest.raises(AccessRefused, match="company_notes"):
            spine.sql(query)
    assert not {"company_notes", "raw_company_notes"} & set(spine.tables())
    catalog = spine.catalog().filter(pl.col("name") == "normalized/company_notes")
    assert catalog["rows"].to_list() == [None]
    assert spine.describe("normalized/company_notes")["facts"]["rows"] is None
    assert spine.describe("normalized/company_contracts")["facts"]["rows"] == 1
    assert _spine(home).catalog().filter(pl.col("name") == "normalized/company_notes")[
        "rows"
    ].to_list() == [2]


def test_every_table_a_tenant_key_can_query_keeps_to_its_tenant(home: Path) -> None:
    owner = _spine(home)
    examples = owner.sql("select metadata_json from quality.check_results")["metadata_json"]
    assert any("globex-secret-region" in m for m in examples)  # the leak this guards against
    assert owner.sql("select count(*) as n from operations.company_captures")["n"][0] == 3

    spine = _spine(home, _key(home, tenant="acme", pii=True))
    seen = {t: spine.sql(f"select * from {t}") for t in spine.tables()}
    for table, rows in seen.items():
        text = json.dumps(rows.to_dicts(), default=str)
        assert not [s for s in SECRETS if s in text], table
    assert seen["company_contracts"]["tenant"].to_list() == ["acme"]
    free = set(tenant_free())
    results = spine.sql("select asset_key from quality.check_results")["asset_key"]
    assert set(results) <= free
    assert spine.sql("select * from operations.company_captures").is_empty()
    ready = spine.sql(
        "select dataset, state, present from operations.readiness_log "
        "where dataset = 'normalized/company_contracts'"
    )
    assert ready.height == 1 and ready["present"].to_list() == [1]  # acme's row alone
    assert ready["state"].to_list() != [None]
    assert spine.readiness(dataset="normalized/company_notes")["present"].to_list() == [None]
    catalog = spine.catalog().filter(pl.col("name").str.starts_with("operations/"))
    assert catalog["rows"].null_count() == catalog.height


def test_a_company_table_no_yaml_declares_gets_no_clear_view(home: Path) -> None:
    quant = _spine(home, _key(home, "quant"))
    for query in ("select email from company_ghost", "select * from raw.company_ghost"):
        with pytest.raises(AccessRefused, match=r"company_ghost.*no dataset declares it"):
            quant.sql(query)
    assert "company_ghost" not in quant.tables()
    tenant_pii = _spine(home, _key(home, "compliance", tenant="acme", pii=True))
    with pytest.raises(AccessRefused, match="company_ghost"):
        tenant_pii.sql("select email from company_ghost")
    clear = _spine(home, _key(home, "compliance", pii=True))
    assert clear.sql("select email from company_ghost")["email"].to_list() == [
        "ghost@secret.example"
    ]
    assert _spine(home).sql("select count(*) as n from company_ghost")["n"][0] == 1


def test_every_refused_read_is_audited_with_the_tables_and_why(home: Path) -> None:
    acme = _key(home, tenant="acme")
    actor = f"key:{acme.split('_')[1]}"
    spine = _spine(home, acme)
    with pytest.raises(AccessRefused, match="bound to tenant acme"):
        spine.warehouse_sql("select * from marts.mart_readiness")
    with pytest.raises(AccessRefused):
        spine.sql("select n.body from company_notes n join company_ghost g on true")
    with pytest.raises(AccessRefused):
        spine.dataset("notes")
    refusals = [
        (action, params)
        for action, _, params, outcome in audit_entries(home, actor)
        if outcome == REFUSED
    ]
    assert [action for action, _ in refusals] == [
        "spine.warehouse_sql",
        "spine.sql",
        "spine.dataset",
    ]
    warehouse, sql, dataset = (params for _, params in refusals)
    assert warehouse["tables"] == ["warehouse"] and "every tenant" in warehouse["reason"]
    assert warehouse["query"] == "select * from marts.mart_readiness"
    assert sql["tables"] == ["normalized/company_ghost", "normalized/company_notes"]
    assert "tenant_column" in sql["reason"] and "no dataset declares it" in sql["reason"]
    assert sql["tenant"] == "acme" and "join company_ghost" in sql["query"]
    assert dataset["tables"] == ["normalized/company_notes"]


def test_a_tenant_column_left_undeclared_warns_naming_the_file_and_the_fix(
    tmp_path: Path,
) -> None:
    _declare(tmp_path, "notes", NOTES)
    with pytest.warns(TenantColumnWarning) as warned:
        use_home(tmp_path)
    (message,) = [str(w.message) for w in warned]
    assert str(home_folder(tmp_path) / "notes" / "defs.yaml") in message
    assert "add `tenant_column: tenant`" in message


def test_the_known_tenants_are_those_the_company_tables_hold(home: Path) -> None:
    use_home(home)
    assert known_tenants(settings_for(home).lake()) == ["acme", "globex"]


def test_routes_and_reads_spanning_every_tenant_refuse_a_tenant_key(home: Path) -> None:
    operator = _key(home, "operator", tenant="acme")
    compliance = _key(home, "compliance", tenant="acme", pii=True)
    with serving(home) as client:
        status = _get(client, "/v1/status", operator)
        audit = _get(client, "/v1/audit", compliance)
        ready = _get(client, "/v1/readiness", operator)
        unbound = _get(client, "/v1/status", _key(home, "operator"))
    for refused in (status, audit):
        assert refused.status_code == 403 and "bound to tenant acme" in refused.text
    assert ready.status_code == 200 and unbound.status_code == 200
    with pytest.raises(AccessRefused, match="every tenant's rows in clear"):
        _spine(home, compliance).changes("normalized/company_contracts")
    assert (
        _spine(home, _key(home, "compliance", pii=True))
        .changes("normalized/company_contracts")
        .is_empty()
    )
