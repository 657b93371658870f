"""Company datasets' check results land in the warehouse's one table of check results beside
the market's: `quality.check_results`, `stg_quality__check_results` and `mart_data_quality`,
each with its severity and the owner its findings are routed to."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl

from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.definitions import load_folder
from market_spine.lake.resource import LakeResource
from market_spine.warehouse.assets import warehouse_dbt
from market_spine.warehouse.project import dbt_resource
from market_spine.warehouse.quality import CHECKED_ASSETS, check_results
from market_spine.warehouse.resource import WarehouseResource

MART = dg.AssetKey(["marts", "mart_data_quality"])
STAGING = dg.AssetKey(["staging", "stg_quality__check_results"])
CLIENTS = "normalized/company_clients"


def test_company_checks_land_in_the_warehouse_with_severity_and_owner(
    home: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    shutil.copytree(DEFS_FOLDER / "clients", folder / "clients")
    drop = folder / "clients" / "drop" / "clients_2026-11-27.csv"
    rows = pl.read_csv(drop).with_columns(
        pl.when(pl.col("client_id") == "C003")
        .then(pl.lit("galactic"))
        .otherwise(pl.col("segment"))
        .alias("segment")
    )
    rows.write_csv(drop)
    lake = {"lake": LakeResource(root=str(home / "lake"))}
    assets = list(load_folder(folder).assets or [])
    assert dg.materialize(assets, instance=instance, resources=lake).success
    assert dg.AssetKey(CLIENTS.split("/")) in CHECKED_ASSETS

    assert dg.materialize([check_results], instance=instance, resources=lake).success
    warehouse = WarehouseResource(home=str(home))
    built = dg.materialize(
        [warehouse_dbt],
        selection=[STAGING, MART],
        instance=instance,
        resources={**lake, "dbt": dbt_resource(), "warehouse": warehouse},
    )
    assert built.success
    with warehouse.reading() as conn:
        found = conn.execute(
            "select check_name, is_passed, severity, owner from marts.mart_data_quality "
            "where asset_key = ? order by check_name",
            [CLIENTS],
        ).fetchall()
    assert found == [
        ("accepted_values_segment", False, "WARN", "team:sales-analytics"),
        ("certified", True, "ERROR", "team:sales-ops"),
        ("not_null_email", True, "ERROR", "team:sales-ops"),
        ("unique_tenant_client_id", True, "ERROR", "team:sales-ops"),
    ]
