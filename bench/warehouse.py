"""The warehouse: a full dbt build, and an analyst's query through the marts vs straight
over the Delta views.

Setup, on a temporary home with a temporary Dagster instance: one year (2023) of CL/ES/NG through
`materialize_range` and a month (March 2024) of SPX/SPXW chains through `materialize_options`
(both timed: that is the data the warehouse reads), then `quality/check_results`.

Measured:
- full `dbt build` wall time (seeds, views, marts, incremental minute fact, all dbt tests) on an
  empty warehouse, then again on the built one (the minute fact incremental), plus the fixed cost
  of a dbt invocation (one view) — all under the writer lock, as Dagster runs them;
- the analyst's query, p50 over 20 runs on a read-only connection: a month of daily bars joined
  to dim_instrument, grouped by week — through marts.fct_futures_bars_daily vs the same question
  straight over the Delta views (analytics.futures_bars_daily ⋈ the contract reference), and
  over the one-minute Delta view (no daily table at all);
- info, for the plugin choice: one aggregate over the year of minute bars read by our
  `read_parquet` view vs a pyarrow dataset of the Delta table (what dbt-duckdb's `delta` plugin
  registers).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import dataset
import duckdb
import report
from deltalake import DeltaTable

from market_spine.lake.resource import LakeResource
from market_spine.runs.launch import materialize_options, materialize_range
from market_spine.warehouse.quality import check_results
from market_spine.warehouse.resource import WarehouseResource

FUTURES = (date(2023, 1, 1), date(2023, 12, 31))
OPTIONS = (date(2024, 3, 1), date(2024, 3, 31))
MONTH = (date(2023, 6, 1), date(2023, 6, 30))
RUNS = 20

_WHERE = f"between date '{MONTH[0]}' and date '{MONTH[1]}'"
QUERIES = {
    "mart": f"""
        select date_trunc('week', f.trade_date) as week, i.root, i.local_symbol,
               count(*) as days, sum(f.volume) as volume, max(f.high_price) as high,
               min(f.low_price) as low, avg(f.close_price) as avg_close
        from marts.fct_futures_bars_daily f
        join marts.dim_instrument i on i.instrument_key = f.contract_instrument_key
        where f.trade_date {_WHERE}
        group by all order by all""",
    "delta_daily": f"""
        select date_trunc('week', d.trade_date) as week, d.symbol as root, d.contract,
               count(*) as days, sum(d.volume) as volume, max(d.high) as high,
               min(d.low) as low, avg(d.close) as avg_close
        from analytics.futures_bars_daily d
        join reference.ref_futures_contracts c
          on c.root = d.symbol and c.local_symbol = d.contract
         and c.last_trade_date >= d.trade_date
         and c.last_trade_date < d.trade_date + interval 10 year
        where d.trade_date {_WHERE}
        group by all order by all""",
    "delta_minutes": f"""
        with daily as (
            select symbol, contract, trade_date, sum(volume) as volume, max(high) as high,
                   min(low) as low, arg_max(close, ts) as close
            from normalized.futures_bars_1m where trade_date {_WHERE} group by all)
        select date_trunc('week', trade_date) as week, symbol as root, contract,
               count(*) as days, sum(volume) as volume, max(high) as high, min(low) as low,
               avg(close) as avg_close
        from daily group by all order by all""",
}
SCAN = "select symbol, count(*), sum(volume), avg(close) from {} group by 1"


def build_home(home: Path) -> dict[str, float]:
    """The year of futures and the month of chains through Dagster; seconds per step."""
    settings = dataset.settings_for(home)
    timings: dict[str, float] = {}
    with dg.instance_for_test() as inst:
        t0 = report.now_ms()
        runs = materialize_range(settings, dataset.SYMBOLS, *FUTURES, instance=inst)
        timings["futures_year_s"] = (report.now_ms() - t0) / 1000
        assert all(r.success for r in runs), runs
        t0 = report.now_ms()
        summary = materialize_options(settings, *OPTIONS, instance=inst)
        timings["options_month_s"] = (report.now_ms() - t0) / 1000
        assert summary is not None and summary.success, summary
        lake = {"lake": LakeResource(root=str(settings.lake_root))}
        assert dg.materialize([check_results], instance=inst, resources=lake).success
    return timings


def dbt_build(warehouse: WarehouseResource, args: list[str]) -> float:
    """Seconds for one dbt invocation under the writer lock; fails loudly if dbt does."""
    t0 = report.now_ms()
    invocation = warehouse.run(args)
    seconds = (report.now_ms() - t0) / 1000
    assert invocation.process.returncode == 0, invocation.get_error()
    return seconds


def query_latency(conn: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    """First run, then p50/p99 over RUNS warm runs, and the result's row count."""
    first_ms, rows = report.time_ms(lambda: conn.execute(sql).fetchall())
    samples = [report.time_ms(lambda: conn.execute(sql).fetchall())[0] for _ in range(RUNS)]
    return {"first_ms": round(first_ms, 2), **report.latency(samples), "rows": len(rows)}


def main() -> None:
    """Build the home, time the builds and the queries, print and save the figures."""
    with dataset.scratch("bench_warehouse_") as work:
        home = work / "home"
        setup = build_home(home)
        warehouse = WarehouseResource(home=str(home))
        builds = {
            "full_build_cold_s": dbt_build(warehouse, ["build"]),
            "full_build_warm_s": dbt_build(warehouse, ["build"]),
            "one_view_s": dbt_build(warehouse, ["run", "--select", "stg_quality__check_results"]),
        }
        with warehouse.reading() as conn:
            counts = {
                t: conn.execute(f"select count(*) from marts.{t}").fetchone()[0]
                for t in ("fct_futures_bars_1m", "fct_futures_bars_daily", "fct_option_eod")
            }
            queries = {name: query_latency(conn, sql) for name, sql in QUERIES.items()}
            path = str(home / "lake" / "normalized" / "futures_bars_1m")
            conn.register("minutes_arrow", DeltaTable(path).to_pyarrow_dataset())
            scans = {
                "read_parquet_view": query_latency(conn, SCAN.format("normalized.futures_bars_1m")),
                "pyarrow_dataset": query_latency(conn, SCAN.format("minutes_arrow")),
            }
        warehouse_mib = warehouse.path.stat().st_size / 2**20

    report.table(
        "Setup through Dagster (the data the warehouse reads)",
        ["step", "seconds"],
        [
            ["futures 2023 × CL/ES/NG", setup["futures_year_s"]],
            ["options March 2024", setup["options_month_s"]],
        ],
    )
    report.table(
        "dbt build (under the writer lock)",
        ["build", "seconds"],
        [
            ["full, empty warehouse", builds["full_build_cold_s"]],
            ["full, built warehouse (incremental minutes)", builds["full_build_warm_s"]],
            ["one view (fixed cost of a dbt invocation)", builds["one_view_s"]],
        ],
    )
    report.table(
        f"Analyst query: {MONTH[0]:%B %Y} daily bars ⋈ instrument by week, {RUNS} runs",
        ["path", "first ms", "p50 ms", "p99 ms", "rows"],
        [[name, q["first_ms"], q["p50_ms"], q["p99_ms"], q["rows"]] for name, q in queries.items()],
    )
    report.table(
        "Info: a year of minute bars, one aggregate (the delta plugin's scan path)",
        ["reader", "first ms", "p50 ms"],
        [[name, q["first_ms"], q["p50_ms"]] for name, q in scans.items()],
    )
    report.save(
        "warehouse",
        {
            "setup": setup,
            "builds": builds,
            "rows": counts,
            "warehouse_mib": round(warehouse_mib, 1),
            "analyst_query": queries,
            "minute_scan": scans,
            "mart_vs_delta_daily_p50": round(
                queries["mart"]["p50_ms"] / queries["delta_daily"]["p50_ms"], 3
            ),
        },
    )


if __name__ == "__main__":
    main()
