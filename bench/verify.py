"""What integrity costs: `verify --deep` throughput against `sha256sum`, and point reads with
the integrity checks against the same reads without them, on the 5-year lake.

- verify: `verify_lake(deep=False)` and `verify_lake(deep=True)` over the lake's tables (every
  referenced file: size and footer; deep: SHA-256, a whole read with page checksums verified,
  the log's statistics against the data); MB/s of the referenced bytes. Baseline in the same
  run: `sha256sum` over the same files (page cache warm for both: each runs once untimed first).
- point reads: `Spine.bars(sym, day)` p50/p99 over 200 random pairs after a warm-up over 200
  others, and 30 cold reads (fresh Lake and ledger each: the file's SHA-256 is computed on first
  sight), with the integrity checks as shipped and with `Ledger.check_file` replaced by a no-op
  (the reads before the checks existed); rounds alternate to share any drift. Target: the
  checks cost ≤ 10 % on the warm p50.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import dataset
import report
from reads import cold_reads, fresh_spine, warm_reads

from market_spine.lake import lake_at
from market_spine.lake.integrity import Ledger
from market_spine.lake.verify import verify_lake

SEED = 11
N_WARMUP, N_WARM, N_COLD = 200, 200, 30
ROUNDS = 2
TARGET_WARM_P50_COST = 0.10


def referenced_files(settings: Any) -> list[str]:
    """Every data file the newest versions of the lake's tables reference."""
    lake = lake_at(str(settings.lake_root))
    return [f.path for name in lake.datasets() for f in lake.snapshot(name).files]


def sha256sum(files: list[str]) -> float:
    """Seconds `sha256sum` takes over the files."""
    started = time.perf_counter()
    subprocess.run(["sha256sum", *files], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure_verify(settings: Any) -> dict[str, Any]:
    """Light and deep verification of the whole lake beside sha256sum of the same bytes."""
    files = referenced_files(settings)
    size = sum(Path(f).stat().st_size for f in files)
    sha256sum(files)  # warm the page cache for both sides
    lake = fresh_spine(settings).lake
    light = verify_lake(lake)
    deep = verify_lake(lake, deep=True)
    assert not light.damaged and not deep.damaged, deep.findings
    assert deep.bytes == size, (deep.bytes, size)
    baseline_s = sha256sum(files)
    mb = size / 1e6
    out = {
        "files": len(files),
        "mb": round(mb, 1),
        "light_s": round(light.seconds, 3),
        "deep_s": round(deep.seconds, 3),
        "deep_mb_s": round(mb / deep.seconds, 1),
        "sha256sum_s": round(baseline_s, 3),
        "sha256sum_mb_s": round(mb / baseline_s, 1),
    }
    out["deep_vs_sha256sum"] = round(out["deep_mb_s"] / out["sha256sum_mb_s"], 2)
    report.log(f"verify: {out}")
    return out


def measure_reads(settings: Any, frame: Any) -> dict[str, Any]:
    """Warm and cold point reads with and without the integrity checks, rounds alternating."""
    sessions = dataset.sessions(frame)
    expected = {(s, d): n for s, d, n, _, _ in sessions.iter_rows()}
    pairs = random.Random(SEED).sample(list(expected), N_WARMUP + N_WARM + N_COLD)
    warmup, warm = pairs[:N_WARMUP], pairs[N_WARMUP : N_WARMUP + N_WARM]
    cold = pairs[N_WARMUP + N_WARM :]
    checked = Ledger.check_file
    results: dict[str, list[dict[str, float]]] = {"checked": [], "unchecked": []}
    try:
        for _ in range(ROUNDS):
            for mode in ("unchecked", "checked"):
                Ledger.check_file = checked if mode == "checked" else _no_check  # type: ignore[method-assign]
                warm_figures = warm_reads(fresh_spine(settings), warmup, warm, expected)
                cold_figures = cold_reads(settings, cold, expected)
                results[mode].append({"warm": warm_figures, "cold": cold_figures})
                report.log(f"{mode}: warm {warm_figures}, cold {cold_figures}")
    finally:
        Ledger.check_file = checked  # type: ignore[method-assign]
    out: dict[str, Any] = {}
    for mode, rounds in results.items():
        out[mode] = {
            kind: {key: round(min(r[kind][key] for r in rounds), 3) for key in ("p50_ms", "p99_ms")}
            for kind in ("warm", "cold")
        }
    base, ours = out["unchecked"]["warm"]["p50_ms"], out["checked"]["warm"]["p50_ms"]
    out["warm_p50_cost"] = round(ours / base - 1, 3)
    base, ours = out["unchecked"]["cold"]["p50_ms"], out["checked"]["cold"]["p50_ms"]
    out["cold_p50_cost"] = round(ours / base - 1, 3)
    return out


def _no_check(self: Ledger, dataset: str, f: Any, *, past: bool = False) -> None:
    """The reads as they were before the integrity checks."""


def main() -> None:
    """Build the 5-year lake, measure, print and save."""
    frame = dataset.bars()
    work = Path(tempfile.mkdtemp(prefix="bench_verify_", dir=dataset.DATA))
    try:
        report.log(f"writing the 5-year lake ({frame.height:,} rows)")
        settings = dataset.build_lake(work / "home", frame, daily=True)
        reads = measure_reads(settings, frame)
        verify = measure_verify(settings)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.table(
        "verify --deep against sha256sum (same files, same run, page cache warm)",
        ["measurement", "files", "MB", "seconds", "MB/s"],
        [
            ["verify (light)", verify["files"], verify["mb"], verify["light_s"], "–"],
            ["verify --deep", verify["files"], verify["mb"], verify["deep_s"], verify["deep_mb_s"]],
            [
                "baseline: sha256sum",
                verify["files"],
                verify["mb"],
                verify["sha256sum_s"],
                verify["sha256sum_mb_s"],
            ],
        ],
    )
    report.table(
        "Spine.bars 1 day, ms: integrity checks on vs off (best of alternating rounds)",
        ["reads", "off p50", "off p99", "on p50", "on p99", "p50 cost", "target"],
        [
            [
                kind,
                reads["unchecked"][kind]["p50_ms"],
                reads["unchecked"][kind]["p99_ms"],
                reads["checked"][kind]["p50_ms"],
                reads["checked"][kind]["p99_ms"],
                f"{reads[f'{kind}_p50_cost']:+.1%}",
                f"≤ {TARGET_WARM_P50_COST:.0%}" if kind == "warm" else "",
            ]
            for kind in ("warm", "cold")
        ],
    )
    report.save("verify", {"verify": verify, "point_reads": reads})


if __name__ == "__main__":
    main()
