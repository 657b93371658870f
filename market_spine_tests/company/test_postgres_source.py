"""The PostgreSQL source against a real PostgreSQL: a first capture takes every row, the next
only rows past the cursor; silver keeps a changed client as a new SCD type 2 version."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import psycopg
import pytest
import yaml

from market_spine.company.assets import capture, fetch
from market_spine.company.config import parse
from market_spine.company.definitions import load_folder
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake
from market_spine_tests.kit.postgres import PostgresServer

DEFS = """\
type: market_spine.company.component.CompanyDataset
attributes:
  name: clients
  description: Clients from the CRM's PostgreSQL.
  owner: team:sales-ops
  kind: dimension
  source: {kind: postgres, dsn_env: COMPANY_TEST_CRM_DSN, table: crm_clients, cursor: updated_at}
  columns:
    - {name: tenant, type: string, description: Tenant.}
    - {name: client_id, type: string, description: Client id.}
    - {name: email, type: string, description: Email., pii: hash}
    - {name: balance, type: float, description: Open balance.}
    - {name: updated_at, type: timestamp, description: Last change (UTC).}
  keys: [tenant, client_id]
  tenant_column: tenant
  checks:
    - {kind: not_null, column: email}
"""


@pytest.fixture(scope="module")
def dsn(postgres: PostgresServer) -> str:
    found = postgres.dsn(postgres.create_database("company_crm"))
    with psycopg.connect(found, autocommit=True) as con:
        con.execute(
            "create table crm_clients (tenant text, client_id text, email text, "
            "balance double precision, updated_at timestamptz)"
        )
    return found


def _insert(dsn: str, rows: list[tuple]) -> None:
    with psycopg.connect(dsn, autocommit=True) as con, con.cursor() as cur:
        cur.executemany("insert into crm_clients values (%s, %s, %s, %s, %s)", rows)


def _capture(folder: Path, lake_root: Path) -> None:
    """One run of every asset the dataset folder declares, on a fresh ephemeral instance."""
    result = dg.materialize(
        list(load_folder(folder).assets or []),
        resources={"lake": LakeResource(root=str(lake_root))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success


def test_incremental_capture_from_postgres(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPANY_TEST_CRM_DSN", dsn)
    folder = tmp_path / "defs"
    (folder / "clients").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "clients" / "defs.yaml").write_text(DEFS)
    _insert(
        dsn,
        [
            ("acme", "C1", "a@acme.example", 10.0, "2026-11-27 09:00+00"),
            ("acme", "C2", "b@acme.example", 20.0, "2026-11-27 10:00+00"),
            ("globex", "C1", "c@globex.example", 30.0, "2026-11-27 11:00+00"),
        ],
    )
    lake = Lake(tmp_path / "lake")

    def run() -> None:
        _capture(folder, tmp_path / "lake")

    run()
    assert lake.read("raw/company_clients").height == 3
    run()  # nothing new past the cursor: no capture
    assert lake.read("raw/company_clients")["capture_id"].n_unique() == 1

    _insert(
        dsn,
        [
            ("acme", "C2", "b@acme.example", 25.0, "2026-11-28 08:00+00"),
            ("globex", "C2", "d@globex.example", 5.0, "2026-11-28 09:00+00"),
        ],
    )
    run()
    raw = lake.read("raw/company_clients")
    assert raw.height == 5 and raw["capture_id"].n_unique() == 2
    assert raw.filter(pl.col("source") == "postgres").height == 5
    silver = lake.read("normalized/company_clients")
    c2 = silver.filter((pl.col("tenant") == "acme") & (pl.col("client_id") == "C2"))
    assert c2.sort("valid_from")["balance"].to_list() == [20.0, 25.0]
    assert c2.filter(pl.col("is_current"))["balance"].to_list() == [25.0]
    assert silver.filter(pl.col("is_current")).height == 4


def test_missing_dsn_variable_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMPANY_TEST_CRM_DSN", raising=False)
    folder = tmp_path / "defs"
    (folder / "clients").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "clients" / "defs.yaml").write_text(DEFS)
    defs = load_folder(folder)
    result = dg.materialize(
        [a for a in defs.assets or [] if "raw" in a.key.path],
        resources={"lake": LakeResource(root=str(tmp_path / "lake"))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.to_string()
    assert "COMPANY_TEST_CRM_DSN" in failure and "source.dsn_env" in failure


def test_rows_committed_later_at_the_newest_cursor_value_are_captured_once(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPANY_TEST_CRM_DSN", dsn)
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("create table crm_late (like crm_clients)")
    folder = tmp_path / "defs"
    (folder / "clients").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "clients" / "defs.yaml").write_text(DEFS.replace("crm_clients", "crm_late"))

    def insert(rows: list[tuple]) -> None:
        with psycopg.connect(dsn, autocommit=True) as con, con.cursor() as cur:
            cur.executemany("insert into crm_late values (%s, %s, %s, %s, %s)", rows)

    insert(
        [
            ("acme", "C1", "a@acme.example", 10.0, "2026-11-27 09:00+00"),
            ("acme", "C2", "b@acme.example", 20.0, "2026-11-27 10:00+00"),
        ]
    )
    lake = Lake(tmp_path / "lake")

    def run() -> None:
        _capture(folder, tmp_path / "lake")

    run()
    # Committed after the capture, with the same cursor value as its newest row.
    insert([("globex", "C9", "z@globex.example", 7.0, "2026-11-27 10:00+00")])
    run()
    raw = lake.read("raw/company_clients")
    assert sorted(raw["client_id"].to_list()) == ["C1", "C2", "C9"]
    assert raw["capture_id"].n_unique() == 2
    run()  # the boundary is read again, but nothing already captured is written twice
    assert lake.read("raw/company_clients").height == 3


def test_the_newest_cursor_value_is_found_reading_the_cursor_column_alone(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPANY_TEST_CRM_DSN", dsn)
    with psycopg.connect(dsn, autocommit=True) as con, con.cursor() as cur:
        cur.execute("create table crm_reads (like crm_clients)")
        cur.executemany(
            "insert into crm_reads values (%s, %s, %s, %s, %s)",
            [
                ("acme", "C1", "a@acme.example", 10.0, "2026-11-27 09:00+00"),
                ("acme", "C2", "b@acme.example", 20.0, "2026-11-27 10:00+00"),
                ("globex", "C3", "c@globex.example", 30.0, "2026-11-27 10:00+00"),
            ],
        )
    path = tmp_path / "clients" / "defs.yaml"
    config = parse(yaml.safe_load(DEFS.replace("crm_clients", "crm_reads")), path)
    lake = Lake(tmp_path / "lake")
    assert capture(config, path.parent, lake, "first-run")["rows"] == 3
    reads: list[tuple[str, Any, Any]] = []
    real = Lake.read

    def spy(self: Lake, dataset: str, **kwargs: Any) -> pl.DataFrame:
        reads.append((dataset, kwargs.get("columns"), kwargs.get("equals")))
        return real(self, dataset, **kwargs)

    monkeypatch.setattr(Lake, "read", spy)
    assert fetch(config, path.parent, lake) == []  # the rows at the cursor are captured already
    raw = [(columns, equals) for dataset, columns, equals in reads if dataset.startswith("raw/")]
    # Every row of the table for its cursor column alone, then only the rows at its newest value.
    newest = datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert raw == [(["updated_at"], None), (list(config.dtypes), {"updated_at": newest})]
