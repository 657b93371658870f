"""Company datasets carry the trust layer's state like market data: unpartitioned dimension
tables (SCD type 2) are certified per capture through the same certification module, and every
company dataset has readiness rows that Spine and `/v1/readiness` serve and filter on."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from market_spine.certification.tables import CERTIFICATIONS, READINESS_LOG
from market_spine.client import Spine
from market_spine.company.definitions import load_folder
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake
from market_spine_tests.company.test_component import _copy_example
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

CLIENTS = "normalized/company_clients"


def _run(defs: dg.Definitions, lake: Path, instance: dg.DagsterInstance, *names: str):
    assets = {a.key.to_user_string(): a for a in defs.assets or []}
    return dg.materialize(
        [assets[n] for n in names],
        resources={"lake": LakeResource(root=str(lake))},
        instance=instance,
        raise_on_error=False,
    )


def test_a_clean_dimension_capture_is_certified(tmp_path: Path) -> None:
    defs = load_folder(_copy_example(tmp_path, ("clients",)))
    lake_root = tmp_path / "lake"
    result = _run(defs, lake_root, dg.DagsterInstance.ephemeral(), "raw/company_clients", CLIENTS)
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["certified"].passed
    assert checks["certified"].metadata["state"].value == "certified"
    # Its findings go where the dataset's own checks' go: the dataset's owner.
    assert checks["certified"].metadata["owner"].value == "team:sales-ops"
    materialization = result.asset_materializations_for_node("normalized__company_clients")[0]
    assert materialization.metadata["certification"].value == "certified"

    lake = Lake(lake_root)
    capture = lake.read(CLIENTS)["capture_id"].max()
    ledger = lake.read(CERTIFICATIONS, equals={"dataset": CLIENTS})
    assert ledger.select("partition", "state").rows() == [(capture, "certified")]
    assert "every certifying check passed" in ledger["reason"][0]


def test_a_dimension_capture_failing_an_error_check_is_failed_with_the_reason(
    tmp_path: Path,
) -> None:
    folder = _copy_example(tmp_path, ("clients",))
    defs = load_folder(folder)
    lake_root = tmp_path / "lake"
    instance = dg.DagsterInstance.ephemeral()
    assert _run(defs, lake_root, instance, "raw/company_clients", CLIENTS).success

    drop = folder / "clients" / "drop"
    blank = pl.read_csv(drop / "clients_2026-11-27.csv").with_columns(
        pl.when(pl.col("client_id") == "C002").then(None).otherwise(pl.col("email")).alias("email")
    )
    blank.write_csv(drop / "clients_2026-11-28.csv")
    result = _run(defs, lake_root, instance, "raw/company_clients", CLIENTS)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["not_null_email"].passed
    assert checks["certified"].metadata["state"].value == "failed"
    assert "not_null_email" in checks["certified"].metadata["reason"].value

    ledger = Lake(lake_root).read(CERTIFICATIONS, equals={"dataset": CLIENTS}).sort("recorded_at")
    assert ledger["state"].to_list() == ["certified", "failed"]
    assert ledger["partition"].n_unique() == 2  # one judgment per capture


def test_every_company_dataset_has_readiness_rows_served_and_filterable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = settings_for(home)
    from market_spine.company.definitions import build_definitions

    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    names = [a.key.to_user_string() for a in defs.assets or [] if a.partitions_def is None]
    assert _run(defs, settings.lake_root, instance, *names).success
    orders = next(a for a in defs.assets or [] if a.partitions_def is not None)
    day = dg.materialize(
        [orders],
        resources={"lake": LakeResource(root=str(settings.lake_root))},
        instance=instance,
        partition_key="2026-11-26",
    )
    assert day.success
    [certified] = [e for e in day.get_asset_check_evaluations() if e.check_name == "certified"]
    assert certified.metadata["owner"].value == "team:sales-ops"

    log = Lake(settings.lake_root).read(READINESS_LOG)
    company = {n for n in log["dataset"].unique().to_list() if "company_" in n}
    silver = {
        "normalized/company_clients",
        "normalized/company_employees",
        "normalized/company_orders",
        "normalized/company_suppliers",
    }
    assert company == silver

    ready = Spine(home).readiness(dataset="normalized/company_clients")
    assert ready.height == 1
    row = ready.row(0, named=True)
    assert row["state"] == "certified" and row["capture_id"] and row["computed_at"]
    assert row["unit"] == "rows" and row["present"] == 12

    with serving(home) as client:
        listed = client.get("/v1/readiness").json()["data"]
        assert silver <= {r["dataset"] for r in listed}
        for name in sorted({r["dataset"] for r in listed}):
            answer = client.get("/v1/readiness", params={"dataset": name})
            assert answer.status_code == 200, answer.text
            assert {r["dataset"] for r in answer.json()["data"]} == {name}
        by_day = client.get(
            "/v1/readiness", params={"dataset": "normalized/company_orders"}
        ).json()["data"]
        assert [(r["trade_date"], r["state"], r["present"]) for r in by_day] == [
            ("2026-11-26", "certified", 16)
        ]
