"""A write killed midway (SIGKILL) leaves the table exactly at its previous version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl

from market_spine.lake import Lake

DS = "normalized/crash_bars"

WRITER = """
import sys
from datetime import date
import numpy as np, polars as pl
from market_spine.lake import Lake
n = 30_000_000
frame = pl.DataFrame({
    "trade_date": pl.repeat(date(2024, 1, 2), n, eager=True),
    "symbol": pl.repeat("CL", n, eager=True),
    "close": np.random.default_rng(0).random(n),
})
print("writing", flush=True)
Lake(sys.argv[1]).replace("DATASET", frame, equals={"trade_date": date(2024, 1, 2), "symbol": "CL"},
                          partition_by=["symbol"])
print("committed", flush=True)
""".replace("DATASET", DS)


def test_sigkill_during_replace_leaves_previous_version(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = Lake(root)
    original = pl.DataFrame(
        {"trade_date": [date(2024, 1, 2)] * 3, "symbol": "CL", "close": [1.0, 2.0, 3.0]}
    )
    lake.replace(DS, original, equals={"trade_date": date(2024, 1, 2)}, partition_by=["symbol"])
    files_before = set(root.rglob("*.parquet"))

    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    deadline = time.monotonic() + 60
    # Kill once the new data file is on disk but before the commit: the worst possible moment.
    while time.monotonic() < deadline and not (set(root.rglob("*.parquet")) - files_before):
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert set(root.rglob("*.parquet")) - files_before, "the writer never started a data file"

    fresh = Lake(root)
    assert fresh.version(DS) == 0
    assert fresh.read(DS).sort("close").equals(original)
    assert len(list((root / DS / "_delta_log").glob("*.json"))) == 1
