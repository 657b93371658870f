"""The native allocators of polars and delta-rs run no purging threads in our processes."""

from __future__ import annotations

import os
import subprocess
import sys

_COUNT = """
import os, time
import market_spine
import polars as pl

pl.DataFrame({"a": range(200_000)}).sort("a", descending=True)
time.sleep(0.5)
names = []
for task in os.listdir("/proc/self/task"):
    try:
        names.append(open(f"/proc/self/task/{task}/comm").read().strip())
    except OSError:
        pass
print(names.count("jemalloc_bg_thd"))
"""


def _purging_threads(**env: str) -> int:
    environment = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"} | env
    done = subprocess.run(
        [sys.executable, "-c", _COUNT], env=environment, capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


def test_importing_market_spine_first_leaves_polars_no_purging_thread() -> None:
    assert _purging_threads() == 0
    # What the setting prevents: polars' own default starts them.
    assert _purging_threads(_RJEM_MALLOC_CONF="background_thread:true") > 0
