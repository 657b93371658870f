"""What certification and revisions cost per materialization of `normalized/futures_bars_1m`.

Two homes, each with its own Dagster instance, load the same CL sessions one partition per run
(as the hourly capture does), in three situations per session:

- first: the partition's first write (a transition recorded, nothing to diff against);
- rerun: the same capture normalized again (steady state: unchanged, nothing recorded);
- revised: a new capture with spikes (a revision, its rows and a transition recorded).

In one home the asset certifies as shipped; in the other (the baseline) the rebuild is not
asked for the rows it replaces and `certify` is a no-op that passes every partition, i.e. the
step as it was before. Both homes run each session in turn, so drift hits both. Figures: the
normalized step's median time (Dagster's step stats) with and without, and the certification's
own time measured inside the step (reading the rows the replacement removes, which only
certification needs, plus `certify`) as a share of the step (the median step's, and amortized:
all certification time over all step time, which counts the periodic checkpoints and
compactions of the trust tables a median leaves out), with the part of it spent recording
(`ledger.record`: the step's trust records journaled in one transaction of the lake's ledger,
and every `journal.FOLD_EVERY` steps the fold that appends them to the trust tables, one
commit per table). Goal ≤ 5 %.

Every run starts from cold lake caches (new Lake objects: no table opened, no snapshot kept), as
a run launched in its own process does, so each step pays for opening the tables it touches, the
trust tables included; `--warm` keeps one Lake per home across runs, as a long-lived process
executing runs in-process would.

SESSIONS is long enough for the journal to be folded several times (every
`journal.FOLD_EVERY` steps), so the amortized share includes the folds; the folds and the
compactions they lead to (a trust table past `ledger.COMPACT_AT` files) are counted.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import dataset
import polars as pl
import report

from market_spine.certification import certify as certification
from market_spine.certification import ledger
from market_spine.check_kit import CheckOutcome
from market_spine.futures import keys
from market_spine.futures import normalized_bars as asset_module
from market_spine.futures.partitions import partition_key
from market_spine.lake import store as store_module
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import domain_assets, resources
from market_spine.settings import Settings

FIRST_DAY = date(2024, 4, 1)
SESSIONS = 60
NOW = "2024-07-01T12:00:00Z"  # every session is final by then
GOAL_SHARE = 0.05
SITUATIONS = ("first", "rerun", "revised")
real_rebuild = asset_module.rebuild_partitions


class Timed:
    """Wraps the asset's certification calls, adding up the seconds they take in a step."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.commits = 0.0
        self.compactions = 0
        self.folds = 0
        self.real_compact = ledger.compact
        self.real_fold = ledger.fold
        self.real_replaced = store_module.replaced_rows
        self.real_certify = certification.certify
        self.real_record = ledger.record

    def record(self, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            self.real_record(*args, **kwargs)
        finally:
            self.commits += time.perf_counter() - started

    def compact(self, *args: Any, **kwargs: Any) -> tuple[int, int]:
        self.compactions += 1
        return self.real_compact(*args, **kwargs)

    def fold(self, *args: Any, **kwargs: Any) -> None:
        self.folds += 1
        self.real_fold(*args, **kwargs)

    def replaced_rows(self, *args: Any, **kwargs: Any) -> pl.DataFrame:
        started = time.perf_counter()
        try:
            return self.real_replaced(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started

    def certify(self, *args: Any, **kwargs: Any) -> certification.Certified:
        started = time.perf_counter()
        try:
            return self.real_certify(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def not_gathering(*args: Any, **kwargs: Any) -> Any:
    """The rebuild as it was before: no replaced rows asked for, so none are read."""
    return real_rebuild(*args, **{**kwargs, "previous": None})


def skipped_certify(_lake, _spec, _run_id, partitions, *_: Any, **__: Any):
    passed = {p.key: CheckOutcome(True) for p in partitions}
    return certification.Certified(passed, {}, 0, 0.0)


#: Whether each run starts from cold lake caches, as a run in a process of its own does.
PROCESS_PER_RUN = "--warm" not in sys.argv


def materialize(
    settings: Settings,
    instance: dg.DagsterInstance,
    day: date,
    selection: list[dg.AssetKey],
    defects: list[str],
) -> str:
    """One run of the selected futures assets over CL on `day`; its run id."""
    if PROCESS_PER_RUN:
        store_module.lake_at.cache_clear()
    result = dg.materialize(
        domain_assets(settings, "futures"),
        selection=selection,
        partition_key=partition_key(day, "CL"),
        resources=resources(settings, MarketDataResource(frozen_now=NOW, defects=defects)),
        instance=instance,
    )
    assert result.success
    return result.run_id


def step_ms(instance: dg.DagsterInstance, run_id: str) -> float:
    """The normalized step's time in the run, from Dagster's step stats."""
    [stats] = [
        s
        for s in instance.get_run_step_stats(run_id)
        if s.step_key == "normalized__futures_bars_1m"
    ]
    return (stats.end_time - stats.start_time) * 1000


def patched(rebuild: Callable[..., Any], certify: Callable[..., Any]) -> Callable[[], None]:
    """Point the asset module at these rebuild and certification functions; returns the
    undo."""
    saved = asset_module.rebuild_partitions, asset_module.certify
    asset_module.rebuild_partitions, asset_module.certify = rebuild, certify

    def undo() -> None:
        asset_module.rebuild_partitions, asset_module.certify = saved

    return undo


def trading_days(n: int) -> list[date]:
    days, day = [], FIRST_DAY
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def run(work: Path) -> dict[str, Any]:
    ours_settings = dataset.settings_for(work / "ours")
    base_settings = dataset.settings_for(work / "baseline")
    steps: dict[tuple[str, str], list[float]] = {
        (m, s): [] for m in ("ours", "base") for s in SITUATIONS
    }
    inside: dict[str, list[float]] = {s: [] for s in SITUATIONS}
    spent: dict[str, list[tuple[float, float]]] = {s: [] for s in SITUATIONS}
    commits: dict[str, list[float]] = {s: [] for s in SITUATIONS}
    timed = Timed()
    ledger.record = timed.record
    ledger.compact = timed.compact
    ledger.fold = timed.fold
    store_module.replaced_rows = timed.replaced_rows
    with dg.instance_for_test() as ours, dg.instance_for_test() as base:
        for day in trading_days(SESSIONS):
            for situation in SITUATIONS:
                defects = ["spikes"] if situation == "revised" else []
                with_raw = situation != "rerun"
                selection = (
                    [keys.RAW_BARS, keys.NORMALIZED_BARS] if with_raw else [keys.NORMALIZED_BARS]
                )
                # Alternate which home goes first, so warm caches favour neither.
                order = ("ours", "base") if day.toordinal() % 2 else ("base", "ours")
                for mode in order:
                    if mode == "ours":
                        timed.seconds = timed.commits = 0.0
                        undo = patched(real_rebuild, timed.certify)
                        settings, instance = ours_settings, ours
                    else:
                        undo = patched(not_gathering, skipped_certify)
                        settings, instance = base_settings, base
                    try:
                        run_id = materialize(settings, instance, day, selection, defects)
                    finally:
                        undo()
                    ms = step_ms(instance, run_id)
                    steps[(mode, situation)].append(ms)
                    if mode == "ours":
                        inside[situation].append(timed.seconds * 1000 / ms)
                        spent[situation].append((timed.seconds * 1000, ms))
                        commits[situation].append(timed.commits * 1000 / ms)
            report.log(f"{day}: done")
    rows, figures = [], {}
    for situation in SITUATIONS:
        ours_ms = statistics.median(steps[("ours", situation)])
        base_ms = statistics.median(steps[("base", situation)])
        share = statistics.median(inside[situation])
        committing = statistics.median(commits[situation])
        amortized = sum(c for c, _ in spent[situation]) / sum(m for _, m in spent[situation])
        rows.append(
            [
                situation,
                ours_ms,
                base_ms,
                (ours_ms - base_ms) / ours_ms * 100,
                share * 100,
                amortized * 100,
                committing * 100,
                "PASS" if share <= GOAL_SHARE else "MISS",
            ]
        )
        figures[situation] = {
            "step_ms_with": round(ours_ms, 1),
            "step_ms_without": round(base_ms, 1),
            "step_difference_share": round((ours_ms - base_ms) / ours_ms, 4),
            "certification_share_inside_step": round(share, 4),
            "certification_share_amortized": round(amortized, 4),
            "trust_commits_share_inside_step": round(committing, 4),
            "sessions": SESSIONS,
            "cold_lake_per_run": PROCESS_PER_RUN,
        }
    every = [pair for situation in SITUATIONS for pair in spent[situation]]
    overall = sum(c for c, _ in every) / sum(m for _, m in every)
    rows.append(["all", "", "", "", "", overall * 100, "", ""])
    figures["all"] = {
        "certification_share_amortized": round(overall, 4),
        "journal_folds": timed.folds,
        "trust_table_compactions": timed.compactions,
        "steps": len(every),
    }
    report.table(
        f"normalized/futures_bars_1m step, CL, one partition per run "
        f"({'cold lake per run' if PROCESS_PER_RUN else 'one warm lake'}), median of {SESSIONS} "
        f"({timed.folds} journal folds, {timed.compactions} trust-table compactions in "
        f"{len(every)} steps)",
        [
            "situation",
            "step ms (ours)",
            "step ms (no certification)",
            "difference %",
            "certification % of step",
            "amortized %",
            "of which recording %",
            f"goal ≤ {GOAL_SHARE:.0%}",
        ],
        rows,
    )
    return figures


def main() -> None:
    with dataset.scratch("certification-") as work:
        figures = run(work)
    report.save("certification", figures)


if __name__ == "__main__":
    main()
