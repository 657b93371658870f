"""`market-spine verify` over a whole home: the lake's tables and ledger (`lake.verify`), the
warehouse's DuckDB file (opens read-only; deep, every table reads whole so DuckDB checks each
block's checksum) and the Dagster instance's SQLite databases, each finding with its repair.
"""

from __future__ import annotations

import time
from pathlib import Path

from market_spine.lake.verify import Finding, Report, known_datasets, sqlite_findings, verify_lake
from market_spine.settings import Settings
from market_spine.warehouse.lock import WarehouseBusy, warehouse_lock
from market_spine.warehouse.paths import lock_path, warehouse_path


def verify_instance(dagster_home: Path, deep: bool = False) -> list[Finding]:
    """The Dagster instance's SQLite databases (runs, event logs, schedules)."""
    if not dagster_home.is_dir():
        return []
    findings = []
    for db in sorted(dagster_home.rglob("*.db")):
        findings += sqlite_findings(
            "dagster instance",
            db,
            deep,
            f"stop the platform and move {db} aside; Dagster creates it again on start (the "
            "runs it listed leave the UI's history; the lake keeps their data)",
        )
    return findings


def verify_warehouse(home: Path, span: str, deep: bool = False) -> list[Finding]:
    """The warehouse's DuckDB file opens read-only and (deep) every table reads whole, which
    makes DuckDB check each block's checksum."""
    import duckdb

    path = warehouse_path(home)
    if not path.exists():
        return []
    repair = (
        f"move {path} aside, then rebuild the warehouse: "
        f"`market-spine process --domain warehouse {span}`"
    )
    try:
        with warehouse_lock(lock_path(home), shared=True, timeout_s=30):
            conn = duckdb.connect(str(path), read_only=True)
            try:
                tables = conn.execute(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_type = 'BASE TABLE'"
                ).fetchall()
                if deep:
                    for schema, name in tables:
                        conn.execute(
                            f'SELECT count(*), max(hash(COLUMNS(*))) FROM "{schema}"."{name}"'
                        ).fetchall()
            finally:
                conn.close()
    except WarehouseBusy as exc:
        return [Finding("warehouse", str(path), f"not checked: {exc}", "run verify again", False)]
    except duckdb.Error as exc:
        return [Finding("warehouse", str(path), f"cannot be read ({exc})", repair)]
    return []


def verify_home(settings: Settings, dataset: str | None = None, deep: bool = False) -> Report:
    """Verify a home: one table, or every table plus the warehouse and the Dagster instance."""
    lake = settings.lake()
    started = time.perf_counter()
    if dataset is not None:
        report = verify_lake(lake, [dataset], deep)
    else:
        report = verify_lake(lake, known_datasets(lake), deep)
        first, last = lake.ledger.span()
        span = f"--start {first} --end {last}" if first and last else "--start FIRST --end LAST"
        report.findings += verify_warehouse(settings.home, span, deep)
        report.findings += verify_instance(settings.dagster_home, deep)
    report.seconds = time.perf_counter() - started
    return report
