"""What the conflict-checked commit costs, and what it buys: one-day writes of CL/ES/NG bars.

Three ways to commit, measured in the same run on lakes of their own:
- `unchecked` (baseline): the commit as it was before the check — planned from the cached
  snapshot, committed with delta-rs' own retries, which let two blind appends through;
- `checked` (ours): `Lake` as it is — `max_commit_retries=0`, and a lost race compares the
  plan's snapshot with the newest one (re-plan if the partition changed, else commit on top);
- `lease`: the alternative considered — the unchecked commit under a per-partition lock file
  (`filelock`) held from planning to commit.

Measured:
- one process, no contention: commits/s of one-day `replace` and of one-day `append`, the three
  ways interleaved block by block (each first in turn) so drift on a shared machine hits them
  alike;
- two processes at once (spawned, rounds started together by a barrier), each round both replace
  the same CL day and each replaces its own symbol's day (ES / NG): wall time, and what the lake
  holds afterwards — CL days with both writers' rows (doubled), own-symbol days missing (lost
  commits), and writes that raised.

Run: `.venv/bin/python bench/concurrent_writes.py` (≈ 2 min on 2 cores).
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import statistics
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import dataset
import polars as pl
import report
from deltalake import CommitProperties
from deltalake import Schema as DeltaSchema
from deltalake.transaction import create_table_with_add_actions
from filelock import FileLock

from market_spine.lake import Lake
from market_spine.lake.commits import Change, CommitInfo

DS = "normalized/bench_bars"
RAW = "raw/bench_bars"
DAYS = 300
BLOCK = 25
ROUNDS = 40


class Unchecked(Lake):
    """The commit before the conflict check: delta-rs' retries decide, no re-plan."""

    def _commit(self, dataset: str, change: Change) -> int:
        schema, adds, removes = change.schema, change.adds, change.removes
        partition_by, read, rows = change.partition_by, change.read, change.rows
        props = CommitProperties(custom_metadata={"rows": str(rows)})
        uri = str(self.path(dataset))
        if read is None and not self.exists(dataset):
            self.path(dataset).mkdir(parents=True, exist_ok=True)
            create_table_with_add_actions(
                uri,
                DeltaSchema.from_arrow(schema),
                adds,
                mode="error",
                partition_by=partition_by,
                commit_properties=props,
            )
            return 0
        self._snapshots.for_write(uri)
        delta = self._snapshots.table(uri)
        # delta-rs' own retries decide a race here: no version check, no re-plan.
        write = {"schema": schema, "partition_by": partition_by, "commit_properties": props}
        delta.create_write_transaction([*adds, *removes], mode="append", **write)
        delta.update_incremental()
        return delta.version()


class Leased(Unchecked):
    """The unchecked commit under a lock file per (dataset, symbol), held from plan to commit."""

    def _lease(self, dataset: str, symbol: str) -> FileLock:
        folder = self.local / "_leases" / dataset
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(folder / f"{symbol}.lock")

    def replace(self, dataset: str, data: Any, **kwargs: Any) -> CommitInfo:
        with self._lease(dataset, kwargs["equals"]["symbol"]):
            return super().replace(dataset, data, **kwargs)

    def append(self, dataset: str, data: Any, **kwargs: Any) -> CommitInfo:
        with self._lease(dataset, data["symbol"][0]):
            return super().append(dataset, data, **kwargs)


WAYS: dict[str, type[Lake]] = {"unchecked": Unchecked, "checked": Lake, "lease": Leased}


def replace_day(lake: Lake, rows: pl.DataFrame, symbol: str, day: date) -> int:
    return lake.replace(
        DS,
        rows,
        equals={"symbol": symbol},
        between={"trade_date": (day, day)},
        partition_by=["symbol"],
        metadata={"capture_id": dataset.CAPTURE_ID},
    ).version


def by_day(frame: pl.DataFrame, symbol: str) -> list[tuple[date, pl.DataFrame]]:
    mine = frame.filter(pl.col("symbol") == symbol)
    parts = mine.partition_by("trade_date", as_dict=True, maintain_order=True)
    return sorted(((key[0], part) for key, part in parts.items()), key=lambda kv: kv[0])


def uncontended(work: Path, days: list[tuple[date, pl.DataFrame]]) -> dict[str, Any]:
    """Commits/s of one-day replaces and appends, the three ways interleaved by block."""
    lakes = {name: way(work / name) for name, way in WAYS.items()}
    rates: dict[str, dict[str, list[float]]] = {n: {"replace": [], "append": []} for n in WAYS}
    names = list(WAYS)
    for i, start in enumerate(range(0, len(days), BLOCK)):
        block = days[start : start + BLOCK]
        # Each way goes first in turn: whoever runs first in a block meets the others' caches.
        for name in names[i % len(names) :] + names[: i % len(names)]:
            lake = lakes[name]
            ms, _ = report.time_ms(
                lambda lake=lake, block=block: [replace_day(lake, r, "CL", d) for d, r in block]
            )
            rates[name]["replace"].append(len(block) / (ms / 1000))
            ms, _ = report.time_ms(
                lambda lake=lake, block=block: [
                    lake.append(RAW, r, partition_by=["symbol"]) for _, r in block
                ]
            )
            rates[name]["append"].append(len(block) / (ms / 1000))
    return {
        name: {op: round(statistics.median(v), 1) for op, v in ops.items()}
        for name, ops in rates.items()
    }


def _writer(way: str, root: str, name: str, own: str, days: Any, start: Any, done: Any) -> None:
    """One process: each round replace the shared CL day and its own symbol's day."""
    lake = WAYS[way](root)
    errors = 0
    for day, cl, mine in days:
        start.wait(120)
        for symbol, rows in (("CL", cl), (own, mine)):
            try:
                replace_day(lake, rows.with_columns(capture_id=pl.lit(name)), symbol, day)
            except Exception:
                errors += 1
    done.put(errors)


def contended(work: Path, frame: pl.DataFrame) -> dict[str, Any]:
    """Two processes writing at once, each way: wall time and what the lake holds after."""
    cl, es, ng = (dict(by_day(frame, s)) for s in ("CL", "ES", "NG"))
    shared = [d for d in sorted(cl) if d in es and d in ng][:ROUNDS]
    jobs = {
        "A": ("ES", [(d, cl[d], es[d]) for d in shared]),
        "B": ("NG", [(d, cl[d], ng[d]) for d in shared]),
    }
    ctx = mp.get_context("spawn")
    out: dict[str, Any] = {}
    for way in WAYS:
        root = work / f"race_{way}"
        start, done = ctx.Barrier(2), ctx.Queue()
        procs = [
            ctx.Process(target=_writer, args=(way, str(root), n, own, rows, start, done))
            for n, (own, rows) in jobs.items()
        ]
        t0 = report.now_ms()
        [p.start() for p in procs]
        errors = sum(done.get(timeout=600) for _ in procs)
        [p.join(60) for p in procs]
        wall_s = (report.now_ms() - t0) / 1000
        bars = Lake(root).read(DS)
        per_day = bars.group_by("symbol", "trade_date").agg(writers=pl.col("capture_id").n_unique())
        doubled = per_day.filter((pl.col("symbol") == "CL") & (pl.col("writers") > 1)).height
        missing = 2 * len(shared) - per_day.filter(pl.col("symbol") != "CL").height
        out[way] = {
            "wall_s": round(wall_s, 2),
            "commits_per_s": round(4 * len(shared) / wall_s, 1),
            "cl_days_doubled": doubled,
            "own_days_missing": missing,
            "writes_raised": errors,
        }
        report.log(f"{way}: {out[way]}")
    return out


def main() -> None:
    """Measure, print and save."""
    report.log("loading the benchmark rows")
    frame = dataset.bars()
    days = by_day(frame, "CL")[:DAYS]
    work = Path(tempfile.mkdtemp(prefix="bench_concurrent_writes_", dir=dataset.DATA))
    try:
        report.log(f"uncontended: {len(days)} one-day replaces and appends each way")
        alone = uncontended(work, days)
        report.log(f"two processes × {ROUNDS} rounds")
        race = contended(work, frame)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = alone["unchecked"]
    report.table(
        "one process, one-day writes (median commits/s over blocks of "
        f"{BLOCK}; ratio to unchecked)",
        ["way", "replace/s", "ratio", "append/s", "ratio"],
        [
            [
                name,
                r["replace"],
                round(r["replace"] / base["replace"], 3),
                r["append"],
                round(r["append"] / base["append"], 3),
            ]
            for name, r in alone.items()
        ],
    )
    report.table(
        f"two processes at once, {ROUNDS} rounds (shared CL day + own symbol's day)",
        ["way", "wall s", "commits/s", "CL days doubled", "own days missing", "raised"],
        [
            [
                name,
                r["wall_s"],
                r["commits_per_s"],
                r["cl_days_doubled"],
                r["own_days_missing"],
                r["writes_raised"],
            ]
            for name, r in race.items()
        ],
    )
    report.save("concurrent_writes", {"uncontended": alone, "two_processes": race})


if __name__ == "__main__":
    main()
