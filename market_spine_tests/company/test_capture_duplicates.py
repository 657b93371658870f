"""A key one capture repeats: with other values it fails the dataset's `unique` check, naming
the key, though silver keeps one row per key; repeated identically it is one record."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from market_spine.company.definitions import build_definitions
from market_spine.lake.resource import LakeResource
from market_spine_tests.company.test_retention import _home_with_orders
from market_spine_tests.kit.homes import settings_for

HEADER = "tenant,order_id,client_id,ordered_at,amount,status\n"


def _unique_verdict(tmp_path: Path, rows: str) -> dg.AssetCheckEvaluation:
    home = _home_with_orders(tmp_path)
    drop = home / "company" / "defs" / "short_orders" / "drop"
    (drop / "orders_repeat.csv").write_text(HEADER + rows)
    settings = settings_for(home)
    assets = {a.key.to_user_string(): a for a in build_definitions(settings).assets or []}
    resources = {"lake": LakeResource(root=str(settings.lake_root))}
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([assets["raw/company_short_orders"]], resources=resources).success
    result = dg.materialize(
        [assets["normalized/company_short_orders"]],
        resources=resources,
        instance=instance,
        partition_key="2026-11-26",
        raise_on_error=False,
    )
    [verdict] = [
        e for e in result.get_asset_check_evaluations() if e.check_name.startswith("unique")
    ]
    return verdict


def test_a_key_repeated_with_other_values_in_one_capture_fails_unique(tmp_path: Path) -> None:
    verdict = _unique_verdict(
        tmp_path,
        "acme,R1,C003,2026-11-26T11:00:00Z,10.0,open\n"
        "acme,R1,C003,2026-11-26T11:00:00Z,99.0,open\n",
    )
    assert not verdict.passed
    assert verdict.metadata["conflicting_keys"].value == "tenant=acme, order_id=R1"


def test_a_row_repeated_identically_passes_unique(tmp_path: Path) -> None:
    row = "acme,R1,C003,2026-11-26T11:00:00Z,10.0,open\n"
    assert _unique_verdict(tmp_path, row + row).passed
