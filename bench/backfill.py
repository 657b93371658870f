"""Backfill through Dagster: one year × CL/ES/NG through raw → normalized → daily and their checks.

Measured:
- `materialize_range` on a temporary home with a temporary Dagster instance
  (`dagster.instance_for_test()`): wall time (target ≤ 120 s) and normalized rows/s, one run per
  symbol; the per-run and per-step breakdown from the instance's run and step stats;
- the time outside the runs' start/end, i.e. creating each run (Dagster logs one "planned" event
  per asset partition there);
- baseline in the same run: the same work without Dagster — the asset bodies' functions called
  directly (fetch + capture frame, raw append, normalize + replace, daily + replace, and the same
  checks), timed per stage, on a second fresh home. The difference is what Dagster itself costs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import dataset
import polars as pl
import report

from market_spine.catalog.dagster_metadata import SESSIONS_PER_RUN
from market_spine.definitions import silence_dagster_previews
from market_spine.futures import checks, keys
from market_spine.futures.daily_bars import daily_from_minutes
from market_spine.futures.normalized_bars import accepted_capture
from market_spine.futures.raw_bars import capture_frame
from market_spine.futures.schemas import (
    DAILY_BARS_SCHEMA,
    NORMALIZED_BARS_SCHEMA,
    RAW_BARS_SCHEMA,
)
from market_spine.lake import Lake
from market_spine.lake.blocks import contiguous_blocks
from market_spine.markets.rolls import captured_contracts
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import materialize_range, plan
from market_spine.settings import Settings

START, END = date(2023, 1, 1), date(2023, 12, 31)
TARGET_S = 120.0


def normalized_rows(settings: Settings) -> int:
    """Rows in the home's normalized table."""
    path = Lake(settings.lake_root).path(keys.table(keys.NORMALIZED_BARS))
    return int(pl.scan_delta(str(path)).select(pl.len()).collect().item())


def through_dagster(
    settings: Settings,
    instance: dg.DagsterInstance | None = None,
    start: date = START,
    end: date = END,
    selection: list[dg.AssetKey] | None = None,
    days_per_run: int = SESSIONS_PER_RUN,
) -> dict[str, Any]:
    """materialize_range of `selection` (default: every futures asset) in `instance` (default:
    a temporary one), in runs of at most `days_per_run` trade dates; wall time plus run and
    step stats."""
    if instance is None:
        with dg.instance_for_test() as temporary:
            return through_dagster(settings, temporary, start, end, selection, days_per_run)
    t0 = report.now_ms()
    runs = materialize_range(
        settings,
        dataset.SYMBOLS,
        start,
        end,
        instance=instance,
        selection=selection,
        days_per_run=days_per_run,
    )
    wall_s = (report.now_ms() - t0) / 1000
    per_run, per_step = [], defaultdict(float)
    for run in runs:
        stats = instance.get_run_stats(run.run_id)
        steps = instance.get_run_step_stats(run.run_id)
        step_s = {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in steps}
        for key, seconds in step_s.items():
            per_step[key] += seconds
        per_run.append(
            {
                "symbol": run.symbol,
                "days": len(plan([run.symbol], run.start, run.end)[run.symbol]),
                "success": run.success,
                "failed_checks": list(run.failed_checks),
                "run_s": round((stats.end_time or 0) - (stats.start_time or 0), 2),
                "steps_s": round(sum(step_s.values()), 2),
            }
        )
    return {"wall_s": round(wall_s, 2), "runs": per_run, "steps_s": dict(per_step)}


def direct(settings: Settings, start: date = START, end: date = END) -> dict[str, float]:
    """The three assets' work and checks without Dagster; seconds per stage."""
    lake = Lake(settings.lake_root)
    provider = MarketDataResource(seed=settings.sim_seed).get()
    raw_name, norm_name, daily_name = (
        keys.table(k) for k in (keys.RAW_BARS, keys.NORMALIZED_BARS, keys.DAILY_BARS)
    )
    stages: dict[str, float] = defaultdict(float)

    def stage(name: str, fn: Any) -> Any:
        ms, out = report.time_ms(fn)
        stages[name] += ms / 1000
        return out

    for symbol, days in plan(dataset.SYMBOLS, start, end).items():
        # Each session's front contract and the months after it the raw asset also captures
        # (`captured_contracts`: the continuous series' and the rolls' other sides).
        frames = stage(
            "fetch + capture frame",
            lambda s=symbol, ds=days: [
                capture_frame(
                    provider.fetch_bars(s, d, *([] if n == 0 else [c.local_symbol])),
                    d.isoformat(),
                    datetime.now(UTC),
                )
                for d in ds
                for n, c in enumerate(captured_contracts(s, d))
            ],
        )
        raw = pl.concat(frames)
        stage("raw append", lambda r=raw: lake.append(raw_name, r, partition_by=["symbol"]))
        stage(
            "raw checks",
            lambda r=raw: checks.validity(r, RAW_BARS_SCHEMA, key=("capture_id", "symbol", "ts")),
        )
        parts = [(symbol, d) for d in days]
        normalized, daily = [], []

        def replace_block(
            label: str, name: str, rows: pl.DataFrame, root: str, span: tuple[date, date]
        ) -> None:
            stage(label, lambda: dataset.replace_sessions(lake, name, rows, root, *span))

        for lo, hi in contiguous_blocks(days):
            bars = stage(
                "normalize",
                lambda s=symbol, a=lo, b=hi: accepted_capture(
                    lake.read(
                        keys.table(keys.RAW_BARS),
                        equals={"symbol": s},
                        between={"trade_date": (a, b)},
                    )
                ),
            )
            replace_block("normalized replace", norm_name, bars, symbol, (lo, hi))
            normalized.append(bars)
        bars = pl.concat(normalized)

        def norm_checks(b: pl.DataFrame = bars, p: list = parts) -> None:
            checks.completeness(b, p, now=datetime.now(UTC))
            checks.validity(b, NORMALIZED_BARS_SCHEMA, key=("symbol", "ts"))
            checks.anomalies(b)

        stage("normalized checks", norm_checks)
        for lo, hi in contiguous_blocks(days):
            minutes = stage(
                "daily read",
                lambda s=symbol, a=lo, b=hi: lake.read(
                    norm_name, equals={"symbol": s}, between={"trade_date": (a, b)}
                ),
            )
            day_rows = stage("daily aggregate", lambda m=minutes: daily_from_minutes(m))
            replace_block("daily replace", daily_name, day_rows, symbol, (lo, hi))
            daily.append(day_rows)
        d_all = pl.concat(daily)
        stage(
            "daily checks",
            lambda d=d_all, p=parts: (
                checks.validity(d, DAILY_BARS_SCHEMA, key=("symbol", "trade_date")),
                checks.missing_days(d, p),
            ),
        )
    return dict(stages)


def main() -> None:
    """Backfill through Dagster, then the same work directly; print and save."""
    silence_dagster_previews()
    work = Path(tempfile.mkdtemp(prefix="bench_backfill_", dir=dataset.DATA))
    try:
        report.log(f"materialize_range {', '.join(dataset.SYMBOLS)} {START}..{END} via Dagster")
        settings = dataset.settings_for(work / "dagster_home")
        dag = through_dagster(settings)
        rows = normalized_rows(settings)
        report.log(f"Dagster: {dag['wall_s']} s, {rows:,} normalized rows; runs {dag['runs']}")
        report.collect()

        report.log("baseline: the same work without Dagster")
        plain = dataset.settings_for(work / "direct_home")
        t0 = report.now_ms()
        stages = direct(plain)
        direct_s = (report.now_ms() - t0) / 1000
        assert normalized_rows(plain) == rows, "direct and Dagster backfills disagree"
    finally:
        shutil.rmtree(work, ignore_errors=True)

    wall = dag["wall_s"]
    figures = {
        "range": [START, END],
        "symbols": list(dataset.SYMBOLS),
        "normalized_rows": rows,
        "wall_s": wall,
        "target_s": TARGET_S,
        "rows_per_s": round(rows / wall),
        "runs": dag["runs"],
        "dagster_steps_s": {k: round(v, 2) for k, v in dag["steps_s"].items()},
        "direct_s": round(direct_s, 2),
        "direct_rows_per_s": round(rows / direct_s),
        "direct_stages_s": {k: round(v, 2) for k, v in stages.items()},
        "dagster_overhead_s": round(wall - direct_s, 2),
        "outside_runs_s": round(wall - sum(r["run_s"] for r in dag["runs"]), 2),
    }
    print_results(figures)
    report.save("backfill", figures)


def print_results(f: dict[str, Any]) -> None:
    """Headline vs baseline, then the per-run and per-stage breakdowns."""
    report.table(
        f"Backfill {f['range'][0]}..{f['range'][1]} × {'/'.join(f['symbols'])}, "
        f"{f['normalized_rows']:,} normalized rows",
        ["measurement", "seconds", "rows/s", "target"],
        [
            [
                "materialize_range via Dagster (3 assets + checks)",
                f["wall_s"],
                f["rows_per_s"],
                f"≤ {f['target_s']:.0f} s",
            ],
            ["baseline: same functions, no Dagster", f["direct_s"], f["direct_rows_per_s"], ""],
            ["Dagster overhead (difference)", f["dagster_overhead_s"], None, ""],
            ["  of which before runs start (run creation)", f["outside_runs_s"], None, ""],
        ],
    )
    report.table(
        "Dagster runs (from run stats)",
        ["symbol", "days", "run s", "steps s", "ok", "failed checks"],
        [
            [
                r["symbol"],
                r["days"],
                r["run_s"],
                r["steps_s"],
                r["success"],
                ",".join(r["failed_checks"]) or "-",
            ]
            for r in f["runs"]
        ],
    )
    report.table(
        "Where the time goes: Dagster steps (sum over runs) | direct stages",
        ["step / stage", "seconds"],
        [[f"step {k}", v] for k, v in f["dagster_steps_s"].items()]
        + [[f"direct: {k}", v] for k, v in f["direct_stages_s"].items()],
    )


if __name__ == "__main__":
    main()
