"""Company datasets: onboarding and incremental PostgreSQL loads, each beside a baseline measured
in the same run.

- Onboarding: the lines of the example `orders` defs.yaml, and the seconds from its folder
  (YAML plus a drop folder of four daily CSV files) to the first certified partition: components
  loaded, the capture and one silver partition materialized through Dagster with every check
  and certification. Baseline: the same files read with polars and written to the lake with one
  `Lake.append` and one `Lake.replace` (no Dagster, no checks, no certification).
- Incremental load: a PostgreSQL table of INITIAL rows is captured once, then ADDED rows land
  past the cursor; rows/s of the incremental capture (query past the cursor, conform, append
  the raw capture with its provenance). Baseline: `COPY (the same query) TO STDOUT` read to the
  end over the same connection kind, the floor for moving those rows out of PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import psycopg
import report

from market_spine.company.assets import capture
from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.config import load
from market_spine.company.definitions import load_folder
from market_spine.company.tables import with_business_date
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from market_spine_tests.kit.postgres import postgres_server

INITIAL = 200_000
ADDED = 200_000
ROUNDS = 3
PG_DEFS = """\
type: market_spine.company.component.CompanyDataset
attributes:
  name: ledger
  description: Ledger lines from PostgreSQL.
  owner: team:finance
  kind: fact
  source: {kind: postgres, dsn_env: BENCH_COMPANY_DSN, table: ledger, cursor: booked_at}
  columns:
    - {name: tenant, type: string, description: Tenant.}
    - {name: line_id, type: int, description: Line id.}
    - {name: account, type: string, description: Account.}
    - {name: amount, type: float, description: Amount.}
    - {name: booked_at, type: timestamp, description: Booking time (UTC).}
  keys: [tenant, line_id]
  tenant_column: tenant
"""


def onboarding(work: Path) -> dict[str, Any]:
    """Seconds from the orders folder to its first certified partition, and the baseline."""
    source = DEFS_FOLDER / "orders"
    yaml_lines = sum(1 for line in (source / "defs.yaml").read_text().splitlines() if line.strip())
    ours, base = [], []
    for i in range(ROUNDS):
        folder = work / f"defs{i}"
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        started = time.perf_counter()
        shutil.copytree(source, folder / "orders")
        defs = load_folder(folder)
        assets = {a.key.to_user_string(): a for a in defs.assets or []}
        resources = {"lake": LakeResource(root=str(work / f"lake{i}"))}
        instance = dg.DagsterInstance.ephemeral()
        assert dg.materialize(
            [assets["raw/company_orders"]], resources=resources, instance=instance
        ).success
        result = dg.materialize(
            [assets["normalized/company_orders"]],
            resources=resources,
            instance=instance,
            partition_key="2026-11-24",
        )
        ours.append(time.perf_counter() - started)
        states = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert states["certified"].metadata["state"].value == "certified"

        config = load(source / "defs.yaml")
        started = time.perf_counter()
        lake = Lake(work / f"plain{i}")
        frames = [
            pl.read_csv(p, try_parse_dates=True) for p in sorted((source / "drop").glob("*.csv"))
        ]
        rows = with_business_date(
            config, pl.concat(frames).with_columns(pl.col("ordered_at").dt.replace_time_zone("UTC"))
        )
        lake.append("raw/plain_orders", rows)
        day = rows.filter(pl.col("business_date") == datetime(2026, 11, 24).date())
        lake.replace(
            "normalized/plain_orders", day, equals={"business_date": day["business_date"][0]}
        )
        base.append(time.perf_counter() - started)
    return {
        "yaml_lines": yaml_lines,
        "seconds_to_first_certified_partition": round(min(ours), 3),
        "baseline_plain_lake_writes_s": round(min(base), 3),
    }


def _ledger_rows(start: int, n: int, at: datetime) -> list[tuple]:
    return [
        (
            ("acme", "globex")[i % 2],
            start + i,
            f"A{i % 97:03d}",
            float(i % 1000) / 7,
            at + timedelta(seconds=i),
        )
        for i in range(n)
    ]


def incremental(work: Path) -> dict[str, Any]:
    """Rows/s of the incremental capture from PostgreSQL and of COPY TO STDOUT."""
    with postgres_server() as server:
        dsn = server.dsn()
        os.environ["BENCH_COMPANY_DSN"] = dsn
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(
                "create table ledger (tenant text, line_id bigint, account text, "
                "amount double precision, booked_at timestamptz)"
            )
        folder = work / "pg" / "ledger"
        folder.mkdir(parents=True)
        (folder / "defs.yaml").write_text(PG_DEFS)
        config = load(folder / "defs.yaml")
        first = datetime(2026, 11, 1, tzinfo=UTC)
        ours, base = [], []
        for i in range(ROUNDS):
            lake = Lake(work / f"pglake{i}")
            with psycopg.connect(dsn, autocommit=True) as con:
                con.execute("truncate ledger")
                with con.cursor().copy("copy ledger from stdin") as copy:
                    for row in _ledger_rows(0, INITIAL, first):
                        copy.write_row(row)
            capture(config, folder, lake, "bench")
            cursor = lake.read("raw/company_ledger", columns=["booked_at"])["booked_at"].max()
            with (
                psycopg.connect(dsn, autocommit=True) as con,
                con.cursor().copy("copy ledger from stdin") as copy,
            ):
                for row in _ledger_rows(INITIAL, ADDED, first + timedelta(days=30)):
                    copy.write_row(row)
            started = time.perf_counter()
            counts = capture(config, folder, lake, "bench")
            ours.append(time.perf_counter() - started)
            assert counts["rows"] == ADDED, counts

            started = time.perf_counter()
            copied = 0
            with psycopg.connect(dsn) as con, con.cursor() as cur:
                sql = (
                    "copy (select tenant, line_id, account, amount, booked_at from ledger "
                    "where booked_at > %s order by booked_at) to stdout"
                )
                with cur.copy(sql, (cursor,)) as copy:
                    for block in copy:
                        copied += bytes(block).count(b"\n")
            base.append(time.perf_counter() - started)
            assert copied == ADDED, copied
    return {
        "initial_rows": INITIAL,
        "incremental_rows": ADDED,
        "capture_rows_per_s": round(ADDED / min(ours)),
        "copy_to_stdout_rows_per_s": round(ADDED / min(base)),
        "capture_s": round(min(ours), 3),
        "copy_s": round(min(base), 3),
    }


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="company-bench-"))
    try:
        onboard = onboarding(work)
        load_figures = incremental(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.table(
        "Company datasets: onboarding (best of 3)",
        ["YAML lines", "file → first certified partition (s)", "plain lake writes (s)"],
        [
            [
                onboard["yaml_lines"],
                onboard["seconds_to_first_certified_partition"],
                onboard["baseline_plain_lake_writes_s"],
            ]
        ],
    )
    report.table(
        f"Incremental PostgreSQL load of {ADDED:,} rows past the cursor (best of 3)",
        ["capture rows/s", "COPY TO STDOUT rows/s", "capture / COPY"],
        [
            [
                load_figures["capture_rows_per_s"],
                load_figures["copy_to_stdout_rows_per_s"],
                round(
                    load_figures["capture_rows_per_s"] / load_figures["copy_to_stdout_rows_per_s"],
                    2,
                ),
            ]
        ],
    )
    report.save("company", {"onboarding": onboard, "incremental": load_figures, "rounds": ROUNDS})


if __name__ == "__main__":
    main()
