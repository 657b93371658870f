"""Run the benchmarks in sequence (each in its own process, so memory and caches never leak
between them), then print one summary table of every headline figure against its target.

`make bench` runs every group. `run_all.py --group core` runs the lake, options, streaming and
warehouse scripts (≈ 28 min on 2 cores, 13 of them real-time streaming); `--group operations` the
operator console, integrity, trust and instance-backend scripts (≈ 25 min); names run just those
scripts. The data cache (`bench/.data/`) is built first if missing; figures come from each
script's `bench/results/<name>.json`, and the summary is saved as `summary.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import report

GROUPS: dict[str, tuple[str, ...]] = {
    "core": (
        "dataset",
        "ingest",
        "point_read",
        "many_commits",
        "lake_s3",
        "backfill",
        "greeks",
        "options_day",
        "option_quotes",
        "ib_backfill",
        "stream_freshness",
        "live_latency",
        "warehouse",
    ),
    "operations": (
        "status",
        "metrics_scrape",
        "gaps",
        "verify",
        "certification",
        "cold_open",
        "revision_diff",
        "readiness",
        "thetadata_capture",
        "process_wall",
        "audit",
        "auth_overhead",
        "instance_backends",
    ),
}
#: Wall-time budget per group (the streaming benchmark alone runs 10 minutes of real-time bars).
BUDGET_S = {"core": 38 * 60, "operations": 30 * 60}

Row = list[Any]


def run(name: str) -> tuple[int, float]:
    """Run bench/<name>.py with this interpreter; output streams through; (exit code, seconds)."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n===== {name} (load average {load}) =====", flush=True)
    t0 = time.perf_counter()
    code = subprocess.call([sys.executable, str(report.BENCH / f"{name}.py")])
    return code, time.perf_counter() - t0


def load(name: str) -> dict[str, Any] | None:
    """A benchmark's saved figures, or None when it did not write any."""
    path = report.RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def check(value: float | None, target: float | None, better: str) -> str:
    """PASS / MISS against a target ('<=' or '>='), 'info' without one."""
    if target is None or value is None:
        return "info"
    ok = value <= target if better == "<=" else value >= target
    return "PASS" if ok else "MISS"


def figure(
    bench: str,
    name: str,
    value: float | None,
    baseline: Any = None,
    target: float | None = None,
    better: str = "<=",
) -> Row:
    """One summary row: benchmark, figure, value, same-run baseline, target, verdict."""
    shown = None if target is None else f"{better} {report.fmt(target)}"
    return [bench, name, value, baseline, shown, check(value, target, better)]


def ingest_rows(r: dict[str, Any]) -> list[Row]:
    return [
        figure(
            "ingest",
            "ours rows/s (Lake.replace per symbol)",
            r["ours_rows_per_s"],
            r["pyarrow_rows_per_s"],
        ),
        figure("ingest", "ours / pyarrow.write_table", r["ratio"], 1.0, r["target_ratio"], ">="),
        figure("ingest", "per-day loop rows/s (1 symbol-month)", r["per_day_rows_per_s"]),
        figure("ingest", "per-day loop commits/s", r["per_day_commits_per_s"]),
        figure("ingest", "pyarrow, our row groups, rows/s", r["pyarrow_our_settings_rows_per_s"]),
    ]


def point_rows(r: dict[str, Any]) -> list[Row]:
    t, arctic = r["targets"], r["arcticdb"]
    rows: list[Row] = []
    for state, label in (("before_maintain", "bulk"), ("after_maintain", "maintained")):
        s, ratio = r[state], r["ratio_vs_arcticdb"][state]

        def one_day(
            read: str, q: str, target: float | None, s: dict = s, label: str = label
        ) -> Row:
            value, baseline = s[read][f"{q}_ms"], arctic[read][f"{q}_ms"]
            return figure("point_read", f"[{label}] 1 day {read} {q} ms", value, baseline, target)

        rows += [one_day("warm", "p50", t["warm_p50_ms"]), one_day("warm", "p99", t["warm_p99_ms"])]
        rows += [
            figure("point_read", f"[{label}] ours/ArcticDB {q}", ratio[q], None, t["vs_arcticdb"])
            for q in ("p50", "p99")
        ]
        rows += [one_day("cold", "p50", None), one_day("cold", "p99", None)]
        rows += [
            figure("point_read", f"[{label}] scan_delta 1 day p50 ms", s["scan_delta"]["p50_ms"]),
            figure("point_read", f"[{label}] 1 symbol-month p50 ms", s["month"]["p50_ms"]),
        ]
        year_scan = s["year_scan_delta"]["p50_ms"]
        rows += [
            figure(
                "point_read",
                f"[{label}] {what} p50 ms",
                s[key]["p50_ms"],
                year_scan,
                t["year_agg_p50_ms"],
            )
            for key, what in (
                ("year_sql", "year OHLC Spine.sql"),
                ("year_polars", "year OHLC polars"),
                ("year_daily_table", "year daily OHLC, Spine.daily"),
                ("year_daily_sql", "year daily OHLC, SQL daily"),
            )
        ]
    return rows


def commits_rows(r: dict[str, Any]) -> list[Row]:
    rows = [
        figure("many_commits", f"{r['commits']} daily commits, commits/s", r["commits_per_s"]),
        figure(
            "many_commits",
            "commits/s first 100 → last 100",
            r["commits_per_s_last_100"],
            r["commits_per_s_first_100"],
        ),
    ]
    for label, state in (("before", "before_maintain"), ("after", "after_maintain")):
        s = r[state]
        for read, q, target in (("warm", "p50", 3.0), ("warm", "p99", 8.0), ("cold", "p50", None)):
            figure_name = f"[{label} maintain] {read} {q} ms"
            baseline = s["scan_delta"][f"{q}_ms"]
            rows.append(figure("many_commits", figure_name, s[read][f"{q}_ms"], baseline, target))
        files = (s["lake"]["files"], s["lake"]["log_json"])
        rows.append(figure("many_commits", f"[{label} maintain] files / log json", *files))
    return rows


def lake_s3_rows(r: dict[str, Any]) -> list[Row]:
    s3, local = r["s3"], r["local"]
    rows = [
        figure(
            "lake_s3", "S3 bulk write rows/s", s3["bulk"]["rows_per_s"], local["bulk"]["rows_per_s"]
        ),
        figure(
            "lake_s3",
            "S3 one-day replace commits/s",
            s3["daily"]["commits_per_s"],
            local["daily"]["commits_per_s"],
        ),
    ]
    rows += [
        figure(
            "lake_s3",
            f"S3 point read {kind} p50 ms",
            s3["reads"][kind]["p50_ms"],
            local["reads"][kind]["p50_ms"],
        )
        for kind in ("warm", "cold")
    ]
    concurrent = s3["concurrent"]
    name = f"S3 {concurrent['writers']} writer processes, commits/s"
    rows.append(
        figure("lake_s3", name, concurrent["commits_per_s"], local["concurrent"]["commits_per_s"])
    )
    rows.append(figure("lake_s3", "S3 concurrent commits lost", concurrent["lost"], None, 0))
    rows.append(
        figure("lake_s3", "S3 concurrent rows duplicated", concurrent["duplicated"], None, 0)
    )
    return rows


def backfill_rows(r: dict[str, Any]) -> list[Row]:
    return [
        figure(
            "backfill",
            "1 year × 3 symbols via Dagster, s",
            r["wall_s"],
            r["direct_s"],
            r["target_s"],
        ),
        figure("backfill", "normalized rows/s", r["rows_per_s"], r["direct_rows_per_s"]),
    ]


def instance_backends_rows(r: dict[str, Any]) -> list[Row]:
    span = f"{r['range'][0]}..{r['range'][1]}"
    return [
        figure(
            "instance_backends",
            f"{span} backfill on PostgreSQL, × no Dagster",
            r["postgres"]["ratio"],
            1.0,
            r["target_ratio"],
        ),
        figure(
            "instance_backends",
            f"{span} backfill on SQLite, × no Dagster",
            r["sqlite"]["ratio"],
            1.0,
        ),
        figure(
            "instance_backends",
            "PostgreSQL vs SQLite wall, s",
            r["postgres"]["wall_s"],
            r["sqlite"]["wall_s"],
        ),
    ]


def greeks_rows(r: dict[str, Any]) -> list[Row]:
    speed, error, target = r["options_per_s"], r["max_vol_error"], r["targets"]
    return [
        figure(
            "greeks",
            "IV + greeks options/s, one core",
            speed["ours"],
            speed["numpy_newton"],
            target["options_per_s"],
            ">=",
        ),
        figure("greeks", "QuantLib options/s", speed["quantlib"]),
        figure("greeks", "max vol error", error["ours"], None, target["max_vol_error"]),
    ]


def options_day_rows(r: dict[str, Any]) -> list[Row]:
    return [
        figure("options_day", "one EOD day, four assets via Dagster, ms", round(r["wall_ms"])),
        figure("options_day", "peak RSS MiB", r["peak_rss_mib"]),
    ]


def option_quotes_rows(r: dict[str, Any]) -> list[Row]:
    runs = r["runs"]
    month, week = runs["stream, one month (ours)"], runs["stream, one week"]
    naive = runs["fetch month then write (baseline)"]
    return [
        figure(
            "option_quotes",
            "month of 1-min quotes, rows/s",
            round(month["rows"] / month["seconds"]),
            round(naive["rows"] / naive["seconds"]),
        ),
        figure("option_quotes", "peak RSS MiB, month", month["rss"], naive["rss"]),
        # Bounded memory: a month may cost at most a quarter more than a week.
        figure(
            "option_quotes",
            "peak RSS month / week",
            round(month["rss"] / week["rss"], 2),
            1.0,
            1.25,
        ),
    ]


def ib_backfill_rows(r: dict[str, Any]) -> list[Row]:
    return [
        figure(
            "ib_backfill",
            f"{r['requests']} requests with pacing, wall / minimum",
            r["ratio"],
            1.0,
        ),
        figure(
            "ib_backfill",
            "pacing violations at the server",
            r["pacing_violations"],
            r["baseline_pacing_violations"],
            0,
        ),
    ]


def stream_rows(r: dict[str, Any]) -> list[Row]:
    ws, lake, poll, target = r["websocket"], r["lake"], r["history_poll"], r["targets"]
    return [
        figure(
            "stream_freshness",
            "5-s bar close → WebSocket p99 s",
            round(ws["p99_ms"] / 1000, 3),
            None,
            target["websocket_p99_s"],
        ),
        figure(
            "stream_freshness",
            "minute close → Spine.bars p99 s",
            round(lake["p99_ms"] / 1000, 3),
            round(poll["p99_ms"] / 1000, 3),
            target["lake_p99_s"],
        ),
    ]


def live_rows(r: dict[str, Any]) -> list[Row]:
    drawn, arrived = r["drawn"], r["arrived_page"]
    return [
        figure(
            "live_latency",
            "5-s bar close → drawn on /ui/live p99 ms",
            drawn["p99_ms"],
            arrived["p99_ms"],
            r["targets"]["drawn_p99_ms"],
        ),
    ]


def warehouse_rows(r: dict[str, Any]) -> list[Row]:
    builds, query = r["builds"], r["analyst_query"]
    return [
        figure(
            "warehouse",
            "full dbt build, empty warehouse, s",
            round(builds["full_build_cold_s"], 1),
            round(builds["one_view_s"], 1),
        ),
        figure(
            "warehouse", "full dbt build, built warehouse, s", round(builds["full_build_warm_s"], 1)
        ),
        figure(
            "warehouse",
            "analyst query p50 ms, mart (baseline: Delta views)",
            query["mart"]["p50_ms"],
            query["delta_daily"]["p50_ms"],
        ),
    ]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[len(ordered) // 2], 3)


def status_rows(r: dict[str, Any]) -> list[Row]:
    api, local = _median(r["command_through_api_s"]), _median(r["command_installed_s"])
    return [
        figure("status", "status --json, API up, median s", api, local, r["goal_s"]),
        figure("status", "status --json, computed locally, median s", local, None, r["limit_s"]),
    ]


def audit_rows(r: dict[str, Any]) -> list[Row]:
    exports = r["export_s"]
    return [
        figure(
            "audit",
            "entries/s appended",
            r["write_entries_per_s"],
            r["baseline_jsonl_write_entries_per_s"],
        ),
        figure("audit", "verify 1 M entries, s", r["verify_s"], r["baseline_jsonl_read_parse_s"]),
        figure(
            "audit",
            "Spine.bars warm p50 audited, ms",
            r["read_p50_ms"],
            r["baseline_read_p50_ms"],
            round(r["baseline_read_p50_ms"] * (1 + r["read_cost_target"]), 3),
        ),
        *[
            figure(
                "audit", f"export week of 1 M as {fmt}, s", exports[fmt], None, r["export_target_s"]
            )
            for fmt in ("csv", "jsonl", "parquet")
        ],
    ]


def auth_overhead_rows(r: dict[str, Any]) -> list[Row]:
    rows = []
    for clients in (8, 32):
        side = r[f"clients_{clients}"]
        floor = round(side["off"]["rps"] * (1 - r["goal_overhead"]), 1)
        rows.append(
            figure(
                "auth_overhead",
                f"GET /v1/bars req/s with keys, {clients} clients",
                round(side["on"]["rps"], 1),
                round(side["off"]["rps"], 1),
                floor,
                ">=",
            )
        )
    return rows


def metrics_rows(r: dict[str, Any]) -> list[Row]:
    healthz = _median(r["healthz_s"])
    return [
        figure("metrics_scrape", "/metrics first scrape s", round(r["first_s"][0], 3), healthz),
        figure(
            "metrics_scrape",
            "/metrics recomputed, median s",
            _median(r["recomputed_s"]),
            healthz,
            r["goal_s"],
        ),
        figure("metrics_scrape", "/metrics cached, median s", _median(r["cached_s"]), healthz),
    ]


def gaps_rows(r: dict[str, Any]) -> list[Row]:
    baseline = r["baseline_per_partition_s"]
    return [
        figure(
            "gaps",
            "find_gaps 5 y × all datasets, warm s",
            r["find_gaps_warm_s"],
            baseline,
            r["goal_s"],
        ),
        figure(
            "gaps", "gaps --export json, process wall s", r["cli_wall_s"], baseline, r["limit_s"]
        ),
    ]


def verify_rows(r: dict[str, Any]) -> list[Row]:
    v, reads = r["verify"], r["point_reads"]
    return [
        figure("verify", "deep verify MB/s", v["deep_mb_s"], v["sha256sum_mb_s"]),
        figure("verify", "light verify s", v["light_s"]),
        figure("verify", "integrity checks' cost on warm p50", reads["warm_p50_cost"], 0.0, 0.10),
    ]


def certification_rows(r: dict[str, Any]) -> list[Row]:
    return [
        figure(
            "certification",
            f"share of the step, {kind}",
            r[kind]["certification_share_inside_step"],
            None,
            0.05,
        )
        for kind in ("first", "rerun", "revised")
    ]


def cold_open_rows(r: dict[str, Any]) -> list[Row]:
    return [
        figure(
            "cold_open",
            f"cold read, log of {length} commits, ms",
            f["ours_p50_ms"],
            f["delta-rs_p50_ms"],
        )
        for length, f in r.items()
        if isinstance(f, dict) and "ours_p50_ms" in f
    ]


def revision_diff_rows(r: dict[str, Any]) -> list[Row]:
    return [
        figure(
            "revision_diff",
            f"{label}, keyed diff rows/s",
            f["keyed_diff_rows_per_s"],
            f["anti_join_rows_per_s"],
        )
        for label, f in r["sizes"].items()
    ]


def readiness_rows(r: dict[str, Any]) -> list[Row]:
    as_left = r["ours"][0]
    return [
        figure(
            "readiness",
            f"a year × every dataset, {kind} p99 ms",
            as_left[kind]["p99_ms"],
            r["baseline_naive_scan"]["p99_ms"],
            r["goal_ms"],
        )
        for kind in ("warm", "cold")
    ]


def thetadata_rows(r: dict[str, Any]) -> list[Row]:
    runs = r["runs"]
    ours = runs["quotes: one request per expiration (ours)"]
    whole = runs["quotes: expiration=*, cut on the client (baseline)"]
    return [
        figure(
            "thetadata_capture",
            "quotes day, MiB",
            round(ours["bytes"] / 2**20, 1),
            round(whole["bytes"] / 2**20, 1),
        ),
        figure(
            "thetadata_capture",
            "quotes day, s",
            round(ours["seconds"], 2),
            round(whole["seconds"], 2),
        ),
    ]


def process_wall_rows(r: dict[str, Any]) -> list[Row]:
    now, before = r["current"], r["previous"]
    return [
        figure(
            "process_wall",
            f"process one day, {state} home, s",
            now[state]["wall_s"],
            before[state]["wall_s"],
            r["goal_s"],
        )
        for state in ("fresh", "built")
    ]


SUMMARIES: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "ingest": ingest_rows,
    "point_read": point_rows,
    "many_commits": commits_rows,
    "lake_s3": lake_s3_rows,
    "backfill": backfill_rows,
    "greeks": greeks_rows,
    "options_day": options_day_rows,
    "option_quotes": option_quotes_rows,
    "ib_backfill": ib_backfill_rows,
    "stream_freshness": stream_rows,
    "live_latency": live_rows,
    "warehouse": warehouse_rows,
    "status": status_rows,
    "audit": audit_rows,
    "auth_overhead": auth_overhead_rows,
    "metrics_scrape": metrics_rows,
    "gaps": gaps_rows,
    "verify": verify_rows,
    "certification": certification_rows,
    "cold_open": cold_open_rows,
    "revision_diff": revision_diff_rows,
    "readiness": readiness_rows,
    "thetadata_capture": thetadata_rows,
    "process_wall": process_wall_rows,
    "instance_backends": instance_backends_rows,
}


def chosen() -> tuple[list[str], float, str]:
    """The scripts the command line asks for, in order, their wall-time budget (s) and the
    name their summary is saved under (`summary` for every group)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", choices=[*GROUPS, "all"], default="all")
    parser.add_argument("scripts", nargs="*", help="run only these scripts (names without .py)")
    args = parser.parse_args()
    known = [name for group in GROUPS.values() for name in group]
    unknown = sorted(set(args.scripts) - set(known))
    if unknown:
        parser.error(f"unknown script(s) {', '.join(unknown)}: choose from {', '.join(known)}")
    if args.scripts:
        return list(args.scripts), sum(BUDGET_S.values()), "summary_selection"
    groups = list(GROUPS) if args.group == "all" else [args.group]
    saved = "summary" if args.group == "all" else f"summary_{args.group}"
    return [n for g in groups for n in GROUPS[g]], sum(BUDGET_S[g] for g in groups), saved


def main() -> int:
    """Run the chosen scripts, then summarize; exit non-zero if a script failed (not on a missed
    target)."""
    scripts, budget, saved = chosen()
    started = time.perf_counter()
    outcomes = {name: run(name) for name in scripts}
    total = time.perf_counter() - started
    rows: list[Row] = []
    for name, summarize in SUMMARIES.items():
        if name not in outcomes:
            continue
        code, _ = outcomes[name]
        result = load(name) if code == 0 else None
        if result is None:
            rows.append([name, "FAILED (see its output above)", None, None, None, "FAIL"])
            continue
        rows += summarize(result)
    rows.append(figure("run_all", "total wall time, s", round(total, 1), None, budget))
    print()
    report.table(
        "Summary (baseline = measured in the same run; see each script's table for details)",
        ["benchmark", "figure", "value", "baseline", "target", "verdict"],
        rows,
    )
    report.table(
        "Script wall times",
        ["script", "seconds", "exit code"],
        [[n, round(s, 1), c] for n, (c, s) in outcomes.items()],
    )
    report.save(
        saved,
        {
            "rows": [
                dict(
                    zip(
                        ["benchmark", "figure", "value", "baseline", "target", "verdict"],
                        r,
                        strict=True,
                    )
                )
                for r in rows
            ],
            "scripts": {
                n: {"seconds": round(s, 1), "exit_code": c} for n, (c, s) in outcomes.items()
            },
        },
    )
    return 0 if all(c == 0 for c, _ in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
