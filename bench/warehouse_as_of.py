"""The warehouse as of an instant: seconds to build the marts into a scratch DuckDB over the lake
snapshot at T, beside the ordinary build of the home's warehouse, in the same run.

Setup, on a temporary home with a temporary Dagster instance: a month (March 2024) of all
domains: CL/ES/NG through `materialize_range`, SPX/SPXW chains through `materialize_options`,
then `quality/check_results`. T is the instant after the setup, so both builds read the same
data and their marts must hold the same rows (checked, and printed).

Measured:
- the ordinary build: `dbt build` of the home's warehouse, empty (the baseline), then warm;
- the build as of T (`build_as_of`: resolving each table's version at T, writing a profile,
  `dbt build` into a scratch file from the home's parse of the project), twice;
- the same build parsing the project afresh (`reuse_parse=False`: what every build as of T
  did before it reused the home's parse), once;
- the marts' row counts from both, which must be equal.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import dataset
import duckdb
import report

from market_spine.lake.resource import LakeResource
from market_spine.runs.launch import materialize_options, materialize_range
from market_spine.warehouse.as_of import build_as_of
from market_spine.warehouse.quality import check_results
from market_spine.warehouse.resource import WarehouseResource

MONTH = (date(2024, 3, 1), date(2024, 3, 31))
MARTS = ("fct_futures_bars_1m", "fct_futures_bars_daily", "fct_option_eod", "fct_vol_surface")


def build_home(home: Path) -> float:
    """A month of every domain through Dagster; its seconds."""
    settings = dataset.settings_for(home)
    t0 = report.now_ms()
    with dg.instance_for_test() as inst:
        runs = materialize_range(settings, dataset.SYMBOLS, *MONTH, instance=inst)
        assert all(r.success for r in runs), runs
        summary = materialize_options(settings, *MONTH, instance=inst)
        assert summary is not None and summary.success, summary
        lake = {"lake": LakeResource(root=str(settings.lake_root))}
        assert dg.materialize([check_results], instance=inst, resources=lake).success
    return (report.now_ms() - t0) / 1000


def ordinary_build(warehouse: WarehouseResource) -> float:
    """Seconds for `dbt build` of the home's warehouse under the writer lock."""
    t0 = report.now_ms()
    invocation = warehouse.run(["build"])
    seconds = (report.now_ms() - t0) / 1000
    assert invocation.process.returncode == 0, invocation.get_error()
    return seconds


def counts(path: Path) -> dict[str, int]:
    """Rows of each fact mart in a DuckDB file."""
    with duckdb.connect(str(path), read_only=True) as conn:
        return {t: conn.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in MARTS}


def main() -> None:
    """Build the month, time both builds, print and save the figures."""
    with dataset.scratch("bench_warehouse_as_of_") as work:
        home = work / "home"
        setup_s = build_home(home)
        settings = dataset.settings_for(home)
        as_of = datetime.now(UTC)
        warehouse = WarehouseResource(home=str(home))
        cold_s = ordinary_build(warehouse)
        warm_s = ordinary_build(warehouse)
        runs = []
        for i in range(2):
            out = Path(tempfile.mkdtemp(dir=work)) / f"as_of_{i}.duckdb"
            built = build_as_of(settings, as_of, out)
            runs.append(built)
        out = Path(tempfile.mkdtemp(dir=work)) / "as_of_afresh.duckdb"
        afresh = build_as_of(settings, as_of, out, reuse_parse=False)
        ordinary_rows = counts(warehouse.path)
        as_of_rows = counts(runs[0].path)
    assert ordinary_rows == as_of_rows, (ordinary_rows, as_of_rows)
    report.table(
        "Setup through Dagster",
        ["step", "seconds"],
        [[f"{MONTH[0]:%B %Y}: CL/ES/NG, SPX/SPXW, check results", setup_s]],
    )
    report.table(
        "Warehouse builds, same data (a month of all domains)",
        ["build", "seconds"],
        [
            ["ordinary, empty warehouse (baseline)", cold_s],
            ["ordinary, built warehouse", warm_s],
            ["as of T, parsing the project afresh (as before)", afresh.seconds],
            *[[f"as of T, scratch file (run {i + 1})", r.seconds] for i, r in enumerate(runs)],
        ],
    )
    report.table(
        "Marts' rows: ordinary vs as of T",
        ["mart", "ordinary", "as of T"],
        [[t, ordinary_rows[t], as_of_rows[t]] for t in MARTS],
    )
    report.save(
        "warehouse_as_of",
        {
            "setup_s": setup_s,
            "ordinary_build_cold_s": cold_s,
            "ordinary_build_warm_s": warm_s,
            "as_of_build_s": [round(r.seconds, 2) for r in runs],
            "as_of_parsing_afresh_s": round(afresh.seconds, 2),
            "as_of_over_cold": round(runs[-1].seconds / cold_s, 2),
            "as_of_over_warm": round(runs[-1].seconds / warm_s, 2),
            "rows": ordinary_rows,
            "versions_read": runs[0].versions,
        },
    )


if __name__ == "__main__":
    main()
