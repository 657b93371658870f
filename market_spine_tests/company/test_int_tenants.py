"""Two tenants in an integer tenant column, end to end through the API and Spine: each key
bound to one reads its rows only, and the catalog and readiness it is shown are computed from
its own rows (a business date only the other tenant holds is not its partition)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import dagster as dg
import pytest

from market_spine.client import Spine
from market_spine.company.definitions import build_definitions
from market_spine.company.home_defs import home_folder
from market_spine.home import instance as home_instance
from market_spine.lake.resource import LakeResource
from market_spine.security.keys import KeyStore
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

INVOICES = """type: market_spine.company.component.CompanyDataset
attributes:
  name: invoices
  description: Invoices each organisation issued.
  owner: team:finance
  kind: fact
  source: {kind: files, path: drop, format: csv, pattern: "*.csv"}
  columns:
    - {name: org, type: int, description: The organisation that issued it.}
    - {name: invoice_id, type: string, description: The invoice.}
    - {name: issued_at, type: timestamp, description: When it was issued (UTC).}
    - {name: email, type: string, description: Who pays it., pii: hash}
  keys: [org, invoice_id]
  tenant_column: org
  partitioning: {kind: daily, column: issued_at, start: "2026-11-20"}
"""
DROP = """org,invoice_id,issued_at,email
1,I1,2026-11-24T09:00:00Z,a@one.example
1,I2,2026-11-24T10:00:00Z,b@one.example
2,I3,2026-11-24T11:00:00Z,c@two.example
2,I4,2026-11-26T09:00:00Z,secret@two.example
"""
ACCOUNTS = """type: market_spine.company.component.CompanyDataset
attributes:
  name: accounts
  description: Accounts each organisation keeps.
  owner: team:finance
  kind: dimension
  source: {kind: files, path: drop, format: csv, pattern: "*.csv"}
  columns:
    - {name: org, type: int, description: The organisation keeping it.}
    - {name: account_id, type: string, description: The account.}
    - {name: label, type: string, description: What the organisation calls it.}
  keys: [org, account_id]
  tenant_column: org
"""
TABLE = "normalized/company_invoices"
WHOLE = "normalized/company_accounts"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Invoices of organisations 1 and 2; only 2 issued any on 2026-11-26."""
    home = tmp_path_factory.mktemp("int_tenants") / "home"
    folder = home_folder(home) / "invoices"
    (folder / "drop").mkdir(parents=True)
    (folder / "defs.yaml").write_text(INVOICES)
    (folder / "drop" / "invoices.csv").write_text(DROP)
    settings = settings_for(home)
    assets = {a.key.to_user_string(): a for a in build_definitions(settings).assets or []}
    resources = {"lake": LakeResource(root=str(settings.lake_root))}
    instance = home_instance(settings)
    assert dg.materialize([assets["raw/company_invoices"]], resources=resources, instance=instance)
    for day in ("2026-11-24", "2026-11-26"):
        built = dg.materialize(
            [assets[TABLE]], resources=resources, instance=instance, partition_key=day
        )
        assert built.success
    accounts = home_folder(home) / "accounts"
    (accounts / "drop").mkdir(parents=True)
    (accounts / "defs.yaml").write_text(ACCOUNTS)
    # Two captures: the first holds both organisations' accounts, the second only 2's.
    for n, drop in enumerate(
        ("org,account_id,label\n1,A1,a\n2,A2,b\n", "org,account_id,label\n2,A3,c\n")
    ):
        (accounts / "drop" / f"accounts_{n}.csv").write_text(drop)
        assets = {a.key.to_user_string(): a for a in build_definitions(settings).assets or []}
        keys = ["raw/company_accounts", WHOLE]
        built = dg.materialize([assets[k] for k in keys], resources=resources, instance=instance)
        assert built.success
    instance.dispose()
    return home


def _key(home: Path, role: str = "reader", **kwargs: object) -> str:
    return KeyStore(home).create(role, name="test", **kwargs).token  # type: ignore[arg-type]


def _get(client, path: str, key: str, **params: str):
    return client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})


def test_each_int_tenant_reads_and_is_shown_only_its_own_rows(home: Path) -> None:
    one, two, everyone = _key(home, tenant="1"), _key(home, tenant="2"), _key(home)
    answers = {}
    with serving(home) as client:
        for who, key in (("one", one), ("two", two), ("everyone", everyone)):
            answers[who] = {
                "rows": _get(client, "/v1/datasets/invoices", key),
                "listing": _get(client, "/v1/catalog", key).json()["datasets"],
                "entry": _get(client, f"/v1/catalog/{TABLE}", key).json(),
                "ready": _get(client, "/v1/readiness", key, dataset=TABLE).json()["data"],
            }
    rows = answers["one"]["rows"].json()["data"]
    assert sorted(r["invoice_id"] for r in rows) == ["I1", "I2"]
    assert {r["org"] for r in rows} == {1}
    assert "two.example" not in answers["one"]["rows"].text
    assert sorted(r["invoice_id"] for r in answers["two"]["rows"].json()["data"]) == ["I3", "I4"]

    def listed(who: str) -> dict:
        (found,) = [d for d in answers[who]["listing"] if d["name"] == TABLE]
        return found["facts"]

    for facts in (listed("one"), answers["one"]["entry"]["facts"]):
        assert facts["rows"] == 2 and facts["newest_partition"] == "2026-11-24"
        assert facts["last_materialization"] is None and facts["last_commit"] is None
        assert "2026-11-26" not in json.dumps(facts)
    assert listed("two")["rows"] == 2 and listed("two")["newest_partition"] == "2026-11-26"
    whole = answers["everyone"]["entry"]["facts"]
    assert whole["rows"] == 4 and whole["newest_partition"] == "2026-11-26"
    assert whole["last_materialization"]["partition"] == "2026-11-26"

    def ready(who: str) -> dict[str, int | None]:
        return {r["trade_date"]: r["present"] for r in answers[who]["ready"]}

    assert ready("one") == {"2026-11-24": 2}
    assert ready("two") == {"2026-11-24": 1, "2026-11-26": 1}
    assert ready("everyone") == {"2026-11-24": 3, "2026-11-26": 1}

    # Spine opened with the key agrees, in frames, SQL, catalog and readiness.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spine = Spine(settings=settings_for(home), key=one, warn_empty=False)
        assert spine.dataset("invoices")["invoice_id"].sort().to_list() == ["I1", "I2"]
        assert spine.sql("select distinct org from company_invoices")["org"].to_list() == [1]
        listing = spine.catalog().filter(spine.catalog()["name"] == TABLE).row(0, named=True)
        assert listing["rows"] == 2 and str(listing["newest_partition"]) == "2026-11-24"
        days = spine.readiness(dataset=TABLE)["trade_date"].cast(str).to_list()
        assert days == ["2026-11-24"]
        assert spine.describe(TABLE)["facts"]["newest_partition"] == "2026-11-24"
        logged = spine.sql(
            "select distinct cast(trade_date as varchar) as day, present "
            f"from operations.readiness_log where dataset = '{TABLE}'"
        )
        assert logged.rows() == [("2026-11-24", 2)]


def test_a_capture_holding_only_another_tenants_rows_is_not_in_its_readiness(home: Path) -> None:
    one, everyone = _key(home, tenant="1"), _key(home)
    with serving(home) as client:
        mine = _get(client, "/v1/readiness", one, dataset=WHOLE).json()["data"]
        whole = _get(client, "/v1/readiness", everyone, dataset=WHOLE).json()["data"]
        entry = _get(client, f"/v1/catalog/{WHOLE}", one).json()["facts"]
    assert len(whole) == 2
    first = min(whole, key=lambda r: r["computed_at"])
    assert [(r["partition"], r["present"]) for r in mine] == [(first["partition"], 1)]
    assert entry["rows"] == 1
