"""A company dataset's `retention_days` is enforced by lake maintenance: rows past it leave the
raw captures and the silver table as a versioned deletion, certified (pinned) versions still
read the old rows exactly, what was removed is reported, and a bad value is refused at load."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.catalog.registry import drift, undeclared
from market_spine.certification import ledger
from market_spine.certification.readiness import Readiness, ReadinessQuery
from market_spine.certification.tables import READINESS_LOG
from market_spine.client import Spine
from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.config import load
from market_spine.company.definitions import build_definitions, load_folder
from market_spine.company.empty_reads import why_empty
from market_spine.company.retention import RETENTION_OPERATION, expire
from market_spine.errors import InvalidInput
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake
from market_spine.operations.retention import maintain_lake
from market_spine_tests.company.test_component import _copy_example, drop_moved_client
from market_spine_tests.kit.homes import settings_for

KEPT_FROM = date(2026, 11, 26)


def _home_with_orders(tmp_path: Path) -> Path:
    """A home declaring `short_orders`: the example orders under another name."""
    home = tmp_path / "home"
    folder = home / "company" / "defs" / "short_orders"
    shutil.copytree(DEFS_FOLDER / "orders", folder)
    text = (folder / "defs.yaml").read_text().replace("name: orders", "name: short_orders")
    (folder / "defs.yaml").write_text(text)
    return home


def _shorten_retention(home: Path, days: int) -> None:
    path = home / "company" / "defs" / "short_orders" / "defs.yaml"
    path.write_text(path.read_text().replace("retention_days: 3650", f"retention_days: {days}"))


def test_maintenance_deletes_rows_past_retention_and_keeps_pinned_versions(
    tmp_path: Path,
) -> None:
    home = _home_with_orders(tmp_path)
    settings = settings_for(home)
    defs = build_definitions(settings)
    assets = {a.key.to_user_string(): a for a in defs.assets or []}
    resources = {"lake": LakeResource(root=str(settings.lake_root))}
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([assets["raw/company_short_orders"]], resources=resources).success
    for day in ("2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"):
        assert dg.materialize(
            [assets["normalized/company_short_orders"]],
            resources=resources,
            instance=instance,
            partition_key=day,
        ).success
    lake = Lake(settings.lake_root)
    silver, raw = "normalized/company_short_orders", "raw/company_short_orders"
    certified_version = lake.version(silver)
    before = lake.read(silver, as_of=certified_version)
    old_days = {date(2026, 11, 24), date(2026, 11, 25)}
    old_rows = before.filter(pl.col("business_date").is_in(old_days)).height
    assert old_rows > 0

    # The owner shortens the retention so that today's cutoff falls on KEPT_FROM: the 24th
    # and 25th go.
    _shorten_retention(home, (date.today() - KEPT_FROM).days)
    # A reader that serves readiness (the API's) and has read the days before they go.
    served, query = Readiness(lake), ReadinessQuery((silver,), None, None, None)
    assert min(served.read(query, datetime.now(UTC))["trade_date"]) < KEPT_FROM
    done = maintain_lake(lake, 0, "test-run")

    expired = {e.dataset: e for e in done.expired}
    assert set(expired) == {silver, raw, READINESS_LOG}
    assert expired[silver].rows == old_rows
    # Rows go by business date, so that is what the message names, not a time of day.
    for table in (silver, raw):
        said = str(expired[table])
        assert f"rows of business dates before {KEPT_FROM} deleted" in said, said
        assert "UTC" not in said
    assert min(lake.read(silver)["business_date"]) == KEPT_FROM
    assert min(lake.read(raw)["business_date"]) == KEPT_FROM
    # The deletion is a version of its own, saying what it was.
    commit = lake.history(silver, limit=5)
    assert any(c.get("deleted_by") == RETENTION_OPERATION for c in commit)
    # Maintenance at retention 0 kept the certified version whole: it reads the old rows.
    again = lake.read(silver, as_of=certified_version)
    assert again.sort(["business_date", "order_id", "tenant"]).equals(
        before.sort(["business_date", "order_id", "tenant"])
    )
    # The package's own datasets keep ten years: nothing of theirs went.
    others = [e for e in done.expired if "short_orders" not in e.dataset]
    assert [e.dataset for e in others] == [READINESS_LOG]

    # Readiness no longer lists the deleted business dates; their certification says why.
    ready = Spine(settings=settings).readiness(dataset=silver)
    assert min(ready["trade_date"]) == KEPT_FROM and ready["state"].is_in(["certified"]).all()
    assert min(served.read(query, datetime.now(UTC))["trade_date"]) == KEPT_FROM
    assert expired[READINESS_LOG].rows == 2
    states = ledger.latest_transitions(lake, silver, date(2026, 11, 1), date(2026, 11, 30))
    by_day = {row["trade_date"]: row for row in states.to_dicts()}
    for day in old_days:
        assert by_day[day]["state"] == "expired" and by_day[day]["previous_state"] == "certified"
        assert RETENTION_OPERATION in by_day[day]["reason"]
        assert f"of business dates before {KEPT_FROM}" in by_day[day]["reason"]
    assert by_day[KEPT_FROM]["state"] == "certified"
    # A second pass finds nothing more to drop or to mark.
    assert maintain_lake(lake, 0, "test-run-2").expired == []

    # The next capture takes neither the drop files it already took (whose rows are gone) nor
    # a new file's rows that are already past the retention.
    drop = home / "company" / "defs" / "short_orders" / "drop"
    late = pl.read_csv(drop / "orders_2026-11-24.csv").with_columns(
        order_id=pl.col("order_id") + "-late"
    )
    late.write_csv(drop / "orders_late.csv")
    shortened = {a.key.to_user_string(): a for a in build_definitions(settings).assets or []}
    again_captured = dg.materialize([shortened["raw/company_short_orders"]], resources=resources)
    assert again_captured.success
    took = again_captured.asset_materializations_for_node("raw__company_short_orders")[0]
    assert took.metadata["captures"].value == 1 and took.metadata["rows"].value == 0
    assert min(lake.read(raw)["business_date"]) == KEPT_FROM
    assert undeclared(lake) == [] and drift(lake) == {}


def test_dimension_keeps_current_versions_and_the_captures_they_came_from(
    tmp_path: Path,
) -> None:
    folder = _copy_example(tmp_path, ("clients",))
    defs = load_folder(folder)
    lake_root = tmp_path / "lake"
    resources = {"lake": LakeResource(root=str(lake_root))}
    assert dg.materialize(list(defs.assets or []), resources=resources).success
    drop_moved_client(folder)
    assert dg.materialize(list(defs.assets or []), resources=resources).success
    lake = Lake(lake_root)
    config = load(folder / "clients" / "defs.yaml")
    assert config.retention_days is not None
    later = datetime.now(UTC) + timedelta(days=config.retention_days + 1)

    done = {e.dataset: e.rows for e in expire(lake, config, later, "test-run")}

    # The two superseded versions of C001 go; the twelve current ones stay, however old.
    assert done == {"normalized/company_clients": 2, "raw/company_clients": 12}
    kept = lake.read("normalized/company_clients")
    assert kept.height == 12 and kept["is_current"].all()
    # What is left of the captures rebuilds exactly the silver table retention left.
    assert dg.materialize(list(defs.assets or []), resources=resources).success
    rebuilt = lake.read("normalized/company_clients")
    order = ["tenant", "client_id"]
    assert rebuilt.drop("capture_id").sort(order).equals(kept.drop("capture_id").sort(order))


@pytest.mark.parametrize("value", ["0", "-3", "10y", "2.5", "true", "36501", "99999999"])
def test_a_bad_retention_is_refused_naming_the_file_and_the_fix(tmp_path: Path, value: str) -> None:
    folder = _copy_example(tmp_path, ("orders",))
    path = folder / "orders" / "defs.yaml"
    path.write_text(path.read_text().replace("retention_days: 3650", f"retention_days: {value}"))
    with pytest.raises(InvalidInput) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message and "key `attributes.retention_days`" in message
    assert "e.g. 3650" in message


def test_maintenance_warns_of_company_tables_no_dataset_declares(tmp_path: Path) -> None:
    """A home dataset's file removed (or no longer loading) leaves its tables with no known
    retention: maintenance names them, and the command warns, instead of skipping them."""
    home = _home_with_orders(tmp_path)
    settings = settings_for(home)
    assets = {a.key.to_user_string(): a for a in build_definitions(settings).assets or []}
    resources = {"lake": LakeResource(root=str(settings.lake_root))}
    assert dg.materialize([assets["raw/company_short_orders"]], resources=resources).success
    lake = Lake(settings.lake_root)
    assert maintain_lake(lake, 0, "declared").undeclared == []

    (home / "company" / "defs" / "short_orders" / "defs.yaml").unlink()
    done = maintain_lake(lake, 0, "undeclared")
    assert [u.table for u in done.undeclared] == ["raw/company_short_orders"]
    said = str(done.undeclared[0])
    assert "raw/company_short_orders is a company table no dataset file declares" in said
    assert "none of its rows were deleted" in said

    env = {**os.environ, "MARKET_SPINE_HOME": str(home), "COLUMNS": "400"}
    command = [sys.executable, "-m", "market_spine.cli", "maintain"]
    ran = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    said = " ".join(ran.stderr.split())
    assert "warning: raw/company_short_orders is a company table no dataset" in said, said


def test_keyed_sql_reads_a_table_retention_emptied_as_an_empty_table(tmp_path: Path) -> None:
    from market_spine.security.keys import KeyStore

    home = _home_with_orders(tmp_path)
    settings = settings_for(home)
    assets = {a.key.to_user_string(): a for a in build_definitions(settings).assets or []}
    resources = {"lake": LakeResource(root=str(settings.lake_root))}
    assert dg.materialize([assets["raw/company_short_orders"]], resources=resources).success
    assert dg.materialize(
        [assets["normalized/company_short_orders"]],
        resources=resources,
        partition_key="2026-11-26",
    ).success
    lake = Lake(settings.lake_root)
    silver = "normalized/company_short_orders"
    # A retention whose cutoff is past every business day the table holds.
    _shorten_retention(home, (date.today() - date(2026, 11, 28)).days)
    maintain_lake(lake, 0, "test-run")
    assert lake.read(silver).height == 0

    key = KeyStore(home).create("quant", name="test").token
    rows = Spine(settings=settings, key=key).sql("select * from company_short_orders")
    assert rows.height == 0 and "order_id" in rows.columns

    # Why it reads empty names the retention, not the source.
    reason = why_empty(lake, silver, home)
    assert "retention deleted them" in reason.detail and "source had none" not in reason.detail
    assert "retention_days: " in reason.detail
