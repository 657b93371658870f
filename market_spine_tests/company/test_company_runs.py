"""`market-spine process --domain company` runs each company dataset on its own: a dataset whose
drop folder is missing, or whose dimension fails an error-severity check, fails alone and says
so, while every other dataset (the daily ones above all) is still captured and built."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.company.home_defs import home_folder

runner = CliRunner()

DIMENSION = """\
type: market_spine.company.component.CompanyDataset
attributes:
  name: {name}
  description: Vendors a tenant pays.
  owner: team:procurement
  kind: dimension
  source: {{kind: files, path: {name}_drop, format: csv, pattern: "*.csv"}}
  columns:
    - {{name: tenant, type: string, description: The company paying the vendor.}}
    - {{name: vendor_id, type: string, description: The vendor's identifier.}}
    - {{name: email, type: string, description: Billing email., pii: hash}}
  keys: [tenant, vendor_id]
  tenant_column: tenant
  checks:
    - {{kind: not_null, column: email}}
"""


def test_one_failing_dataset_stops_no_other(env_home: Path) -> None:
    folder = home_folder(env_home)
    folder.mkdir(parents=True)
    # No drop folder at all for `lost_vendors`; a null email (an error check) for `bad_vendors`.
    (folder / "lost_vendors.yaml").write_text(DIMENSION.format(name="lost_vendors"))
    (folder / "bad_vendors.yaml").write_text(DIMENSION.format(name="bad_vendors"))
    (folder / "bad_vendors_drop").mkdir()
    (folder / "bad_vendors_drop" / "v.csv").write_text("tenant,vendor_id,email\nacme,V1,\n")

    # No date: the company datasets' dates are their data's.
    result = runner.invoke(app, ["process", "--domain", "company"], terminal_width=200)
    said = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    lost = next(line for line in result.output.splitlines() if "lost_vendors" in line)
    assert "failed" in lost and "lost_vendors_drop" in lost, lost
    assert "company: bad_vendors failed" in said and "not_null" in said
    for ok in ("clients", "suppliers", "employees", "orders capture", "orders"):
        assert f"company: {ok} ok" in said, said
    assert "2 of" in said and "runs failed" in said
    # The closing line names each failed run, not only the first.
    closing = said[said.index("runs failed") :]
    for name in ("lost_vendors", "bad_vendors"):
        run_id = re.search(rf"company: {name} failed run (\w{{8}})", said)
        assert run_id is not None, said
        assert f"run {run_id.group(1)} ({name}) failed in" in closing, closing

    instance = dg.DagsterInstance.from_config(str(env_home / "dagster"))
    orders = instance.get_materialized_partitions(dg.AssetKey(["normalized", "company_orders"]))
    assert orders, "the daily dataset was not built"
    clients = instance.get_latest_materialization_event(
        dg.AssetKey(["normalized", "company_clients"])
    )
    assert clients is not None


def test_company_needs_no_date_but_other_domains_do(env_home: Path) -> None:
    refused = runner.invoke(app, ["process", "--domain", "futures"])
    assert refused.exit_code == 2 and "--date" in refused.output
