"""An owner adds a company dataset by dropping a YAML file in the home's `company/defs/`
folder, with no change to the package: it is loaded beside the package's datasets, captured,
catalogued and served. A file there that does not load fails what loads the definitions (the
code location, `process`, `up`) naming every problem of every file, so no dataset vanishes
silently; readers serve the others and warn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from market_spine.audit.recorder import flush_all
from market_spine.audit.store import AuditStore
from market_spine.client import Spine
from market_spine.company.definitions import build_definitions
from market_spine.company.home_defs import CompanyDefsInvalid, CompanyDefsWarning, home_folder
from market_spine.company.masking import digest
from market_spine.lake.resource import LakeResource
from market_spine.security.keys import KeyStore
from market_spine.security.pii_hash_key import pii_hash_key
from market_spine.warehouse.paths import warehouse_path
from market_spine.warehouse.resource import WarehouseResource
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

VENDORS = """\
type: market_spine.company.component.CompanyDataset
attributes:
  name: vendors
  description: The vendors each tenant pays.
  owner: team:procurement
  kind: dimension
  source: {kind: files, path: vendors_drop, format: csv, pattern: "*.csv"}
  columns:
    - {name: tenant, type: string, description: The company paying the vendor.}
    - {name: vendor_id, type: string, description: The vendor's identifier.}
    - {name: email, type: string, description: Billing email., pii: hash}
  keys: [tenant, vendor_id]
  tenant_column: tenant
  checks:
    - {kind: not_null, column: email}
  retention_days: 400
"""


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    folder = home_folder(home)
    (folder / "vendors_drop").mkdir(parents=True)
    (folder / "vendors.yaml").write_text(VENDORS)
    (folder / "vendors_drop" / "vendors.csv").write_text(
        "tenant,vendor_id,email\nacme,V1,a@acme.test\nglobex,V2,b@globex.test\n"
    )
    return home


def _broken(home: Path) -> Path:
    broken = home_folder(home) / "broken"
    broken.mkdir(parents=True)
    path = broken / "defs.yaml"
    text = VENDORS.replace("name: vendors", "nmae: broken").replace("team:procurement", "buyers")
    path.write_text(text.replace("column: email}", "column: mail}"))
    return path


def test_a_broken_file_fails_the_definitions_naming_every_problem(tmp_path: Path) -> None:
    home = _home(tmp_path)
    path = _broken(home)
    second = home_folder(home) / "second.yaml"
    second.write_text(VENDORS.replace("name: vendors", "name: second").replace("400", "'400'"))
    with pytest.raises(CompanyDefsInvalid) as caught:
        build_definitions(settings_for(home))
    message = str(caught.value)
    assert f"company dataset files in {home_folder(home)} do not load (2 files)" in message
    assert f"{path}: key `attributes.nmae` is not a known key" in message
    assert f"{path}: key `attributes.owner` 'buyers' must be an email address" in message
    assert f"{path}: key `attributes.checks[0].column` 'mail' is not a declared column" in message
    assert f"{second}: key `attributes.retention_days`" in message
    assert "market-spine company validate" in message


def test_a_home_dataset_loads_beside_the_package(tmp_path: Path) -> None:
    home = _home(tmp_path)
    settings = settings_for(home)
    defs = build_definitions(settings)
    assets = {a.key.to_user_string(): a for a in defs.assets or []}
    assert {"raw/company_vendors", "normalized/company_vendors"} <= set(assets)
    assert "normalized/company_clients" in assets  # the package's datasets still load
    wanted = [assets["raw/company_vendors"], assets["normalized/company_vendors"]]
    result = dg.materialize(wanted, resources={"lake": LakeResource(root=str(settings.lake_root))})
    assert result.success

    spine = Spine(home)
    assert "normalized/company_vendors" in spine.catalog()["name"].to_list()
    assert spine.dataset("vendors").height == 2
    with serving(home) as client:
        rows = client.get("/v1/datasets/vendors").json()["data"]
        assert sorted(r["vendor_id"] for r in rows) == ["V1", "V2"]
        ready = client.get("/v1/readiness", params={"dataset": "normalized/company_vendors"})
        assert ready.status_code == 200 and ready.json()["data"][0]["state"] == "certified"


def test_a_home_dataset_may_not_take_a_package_name(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = home_folder(home)
    folder.mkdir(parents=True)
    (folder / "clients.yaml").write_text(VENDORS.replace("name: vendors", "name: clients"))
    with pytest.raises(CompanyDefsInvalid, match="already declared") as caught:
        build_definitions(settings_for(home))
    assert str(folder / "clients.yaml") in str(caught.value)


def test_a_reader_warns_about_a_broken_file_once_per_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = _broken(home)
    with pytest.warns(CompanyDefsWarning) as warned:
        Spine(home)
        Spine(home)
    messages = [str(w.message) for w in warned if w.category is CompanyDefsWarning]
    assert len(messages) == 1 and str(path) in messages[0]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MARKET_SPINE_HOME": str(home), "COLUMNS": "400"}
    command = [sys.executable, "-m", "market_spine.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_process_and_validate_fail_on_a_broken_file_naming_it(tmp_path: Path) -> None:
    home = _home(tmp_path)
    path = _broken(home)
    processed = _cli(home, "process", "--domain", "company")
    said = processed.stdout + processed.stderr
    assert processed.returncode != 0, said
    assert str(path) in said and "attributes.nmae" in said and "attributes.owner" in said
    assert "company: " not in said  # refused before any run

    checked = _cli(home, "company", "validate")
    said = checked.stdout + checked.stderr
    assert checked.returncode == 1, said
    assert "ok      vendors" in said and "attributes.checks[0].column" in said
    assert "5 dataset file(s) load, 1 refused" in said

    path.unlink()
    assert _cli(home, "company", "validate").returncode == 0


def test_the_catalog_command_lists_a_home_dataset_added_after_its_last_listing(
    tmp_path: Path,
) -> None:
    """`market-spine catalog` reads the home's folder, and a file added after the saved listing
    was built makes it build again (each command a fresh process, as on a terminal)."""
    home = tmp_path / "home"
    env = {**os.environ, "MARKET_SPINE_HOME": str(home), "COLUMNS": "200"}

    def catalog(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "market_spine.cli", "catalog", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    before = catalog("--json")
    assert before.returncode == 0, before.stderr
    assert "normalized/company_vendors" not in before.stdout
    folder = home_folder(home)
    (folder / "vendors_drop").mkdir(parents=True)
    (folder / "vendors.yaml").write_text(VENDORS)
    after = catalog("normalized/company_vendors", "--json")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["owner"] == "team:procurement"


CONTRACTORS = """\
type: market_spine.company.component.CompanyDataset
attributes:
  name: contractors
  description: The contractors each tenant hires.
  owner: team:people
  kind: dimension
  source: {kind: files, path: contractors_drop, format: csv, pattern: "*.csv"}
  columns:
    - {name: tenant, type: string, description: The company hiring the contractor.}
    - {name: contractor_id, type: string, description: The contractor's identifier.}
    - {name: email, type: string, description: Contact email., pii: hash}
    - {name: ssn, type: string, description: Social security number., pii: redact}
  keys: [tenant, contractor_id]
  tenant_column: tenant
"""


def test_the_warehouse_masks_a_home_dataset_and_audits_the_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = home_folder(home)
    (folder / "contractors_drop").mkdir(parents=True)
    (folder / "contractors.yaml").write_text(CONTRACTORS)
    (folder / "contractors_drop" / "contractors.csv").write_text(
        "tenant,contractor_id,email,ssn\nacme,K1,alice@example.com,123-45-6789\n"
    )
    settings = settings_for(home)
    assets = {a.key.to_user_string(): a for a in build_definitions(settings).assets or []}
    wanted = [assets["raw/company_contractors"], assets["normalized/company_contractors"]]
    lake = {"lake": LakeResource(root=str(settings.lake_root))}
    assert dg.materialize(wanted, resources=lake).success
    # dbt runs in a process of its own, which knows only what the home declares.
    built = WarehouseResource(home=str(home)).run(["run", "--select", "stg_company__clients"])
    assert built.is_successful()

    quant = KeyStore(home).create("quant", name="analyst")
    query = "select tenant, email, ssn from normalized.company_contractors"
    rows = Spine(home, key=quant.token).warehouse_sql(query).rows()
    assert rows == [("acme", digest("alice@example.com", pii_hash_key(home)), None)]
    raw = Spine(home, key=quant.token).warehouse_sql(
        "select email, ssn from raw.company_contractors"
    )
    assert raw.rows() == [rows[0][1:]]

    # The file itself holds no clear value: a reader without the home's key gets null.
    with duckdb.connect(str(warehouse_path(home)), read_only=True) as con:
        assert con.sql(query).fetchall() == [("acme", None, None)]

    flush_all()
    actors = [r[2] for c in AuditStore(home).rows(action="spine.warehouse_sql") for r in c]
    assert actors == [f"key:{quant.record.id}"] * 2
