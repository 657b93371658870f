"""A company dataset declared by one YAML file: loaded as a Dagster component, captured
append-only into the lake, cleaned into silver (SCD type 2 for dimensions), checked, certified,
and refused with a clear error when the YAML is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.catalog.registry import drift, undeclared
from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.definitions import load_folder
from market_spine.errors import InvalidInput
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake
from market_spine.operations.alerts.observe import owner_book
from market_spine.operations.alerts.runs import run_observations


def _copy_example(tmp_path: Path, names: tuple[str, ...]) -> Path:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for name in names:
        shutil.copytree(DEFS_FOLDER / name, folder / name)
    return folder


def drop_moved_client(folder: Path) -> None:
    """A later clients file in which C001 (of both tenants) moved to the enterprise segment."""
    drop = folder / "clients" / "drop"
    changed = pl.read_csv(drop / "clients_2026-11-27.csv").with_columns(
        pl.when(pl.col("client_id") == "C001")
        .then(pl.lit("enterprise"))
        .otherwise(pl.col("segment"))
        .alias("segment")
    )
    changed.write_csv(drop / "clients_2026-11-28.csv")


def _materialize(
    defs: dg.Definitions, lake: Path, partition: str | None = None
) -> dg.ExecuteInProcessResult:
    assets = list(defs.assets or [])
    return dg.materialize(
        assets,
        resources={"lake": LakeResource(root=str(lake))},
        partition_key=partition,
        instance=dg.DagsterInstance.ephemeral(),
        selection=None,
    )


def test_dimension_keeps_versions_as_scd2(tmp_path: Path) -> None:
    folder = _copy_example(tmp_path, ("clients",))
    defs = load_folder(folder)
    lake_root = tmp_path / "lake"
    assert _materialize(defs, lake_root).success
    lake = Lake(lake_root)
    first = lake.read("normalized/company_clients")
    assert first.height == 12 and first["is_current"].all()

    drop_moved_client(folder)
    assert _materialize(defs, lake_root).success

    raw = lake.read("raw/company_clients")
    assert raw["capture_id"].n_unique() == 2 and raw.height == 24  # append-only
    silver = lake.read("normalized/company_clients")
    moved = silver.filter(pl.col("client_id") == "C001").sort("valid_from")
    assert moved.height == 4  # two tenants, each an old and a new version
    old = moved.filter(~pl.col("is_current"))
    assert old["valid_to"].null_count() == 0 and set(old["segment"]) == {"mid"}
    assert silver.filter(pl.col("client_id") != "C001").height == 10  # unchanged: no new version
    assert undeclared(lake) == [] and drift(lake) == {}


def test_daily_fact_is_certified_per_partition(tmp_path: Path) -> None:
    folder = _copy_example(tmp_path, ("orders",))
    defs = load_folder(folder)
    lake_root = tmp_path / "lake"
    instance = dg.DagsterInstance.ephemeral()
    resources = {"lake": LakeResource(root=str(lake_root))}
    assets = list(defs.assets or [])
    raw = next(a for a in assets if "raw" in a.key.path)
    silver = next(a for a in assets if "normalized" in a.key.path)
    assert dg.materialize([raw], resources=resources, instance=instance).success
    result = dg.materialize(
        [silver], resources=resources, instance=instance, partition_key="2026-11-25"
    )
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["certified"].metadata["state"].value == "certified"
    assert checks["unique_tenant_order_id"].passed
    rows = Lake(lake_root).read("normalized/company_orders")
    assert rows.height == 16 and set(rows["business_date"].cast(pl.String)) == {"2026-11-25"}
    assert drift(Lake(lake_root)) == {}


def test_failed_error_check_blocks_certification(tmp_path: Path) -> None:
    folder = _copy_example(tmp_path, ("orders",))
    drop = folder / "orders" / "drop"
    bad = pl.read_csv(drop / "orders_2026-11-25.csv").with_columns(
        amount=pl.lit(-1.0), status=pl.lit("lost")
    )
    bad.write_csv(drop / "orders_2026-11-25.csv")
    defs = load_folder(folder)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"lake": LakeResource(root=str(tmp_path / "lake"))}
    assets = list(defs.assets or [])
    assert dg.materialize([assets[0]], resources=resources, instance=instance).success
    result = dg.materialize(
        [assets[1]],
        resources=resources,
        instance=instance,
        partition_key="2026-11-25",
        raise_on_error=False,
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["range_amount"].passed
    assert checks["range_amount"].metadata["owner"].value == "team:sales-ops"
    assert checks["certified"].metadata["state"].value != "certified"

    # Findings go to the owner each rule names, else the dataset's.
    seen = run_observations(
        result.dagster_run,
        instance.all_logs(result.run_id),
        ("normalized/company_orders",),
        owner_book(),
    )
    owners = {o.subject.split(":")[-1]: o.owners for o in seen if o.failing}
    assert owners["accepted_values_status"] == ("team:finance",)
    assert owners["range_amount"] == ("team:sales-ops",)


@pytest.mark.parametrize(
    ("edit", "key", "fix"),
    [
        (("owner: team:sales-ops", "ownr: team:sales-ops"), "attributes.ownr", "not a known key"),
        (
            ("kind: fact", "kind: event"),
            "attributes.kind",
            "got 'event'; expected one of 'dimension', 'fact'",
        ),
        (
            ("keys: [tenant, order_id]", "keys: [tenant, order_no]"),
            "attributes.keys[1]",
            "'order_no' is not a declared column",
        ),
        (
            ("{kind: row_count, max_change: 0.9, severity: warn}", "{kind: row_count}"),
            "attributes.checks[4].max_change",
            "is required by a row_count check",
        ),
    ],
)
def test_bad_yaml_names_file_key_and_fix(
    tmp_path: Path, edit: tuple[str, str], key: str, fix: str
) -> None:
    folder = _copy_example(tmp_path, ("orders",))
    path = folder / "orders" / "defs.yaml"
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(*edit))
    with pytest.raises(InvalidInput) as caught:
        load_folder(folder)
    message = str(caught.value)
    assert str(path) in message and f"key `{key}" in message and fix in message
