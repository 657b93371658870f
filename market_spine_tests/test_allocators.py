"""The native allocators of polars, delta-rs and pyarrow run no purging threads in our processes,
and Arrow allocates from its jemalloc, not mimalloc."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa

from market_spine.allocators import SETTINGS

_CENSUS = """
import json, os, tempfile, time
import market_spine
import polars as pl
import pyarrow as pa
from deltalake import write_deltalake

frame = pl.DataFrame({"a": range(200_000)}).sort("a", descending=True)
write_deltalake(tempfile.mkdtemp(), frame.to_arrow())
time.sleep(0.5)
names = []
for task in os.listdir("/proc/self/task"):
    try:
        names.append(open(f"/proc/self/task/{task}/comm").read().strip())
    except OSError:
        pass
print(json.dumps({"purging": names.count("jemalloc_bg_thd"),
                  "pool": pa.default_memory_pool().backend_name}))
"""


def _census(**env: str) -> dict[str, object]:
    environment = {k: v for k, v in os.environ.items() if k not in SETTINGS} | env
    done = subprocess.run(
        [sys.executable, "-c", _CENSUS], env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_importing_market_spine_first_leaves_no_purging_thread_and_arrow_on_jemalloc() -> None:
    assert _census() == {"purging": 0, "pool": "jemalloc"}
    # What the settings prevent: the libraries' own defaults start purging threads and put
    # Arrow on mimalloc.
    defaults = _census(
        _RJEM_MALLOC_CONF="background_thread:true",
        JE_ARROW_MALLOC_CONF="background_thread:true",
        ARROW_DEFAULT_MEMORY_POOL="mimalloc",
    )
    assert defaults["purging"] > 0 and defaults["pool"] == "mimalloc"


def test_a_setting_already_in_the_environment_wins() -> None:
    assert _census(ARROW_DEFAULT_MEMORY_POOL="system")["pool"] == "system"


def test_the_test_workers_themselves_allocate_arrow_from_jemalloc() -> None:
    # The workers are where native crashes were seen: conftest imports market_spine first.
    assert pa.default_memory_pool().backend_name == "jemalloc"
    # polars adds decay times of its own to the jemalloc setting when it loads.
    assert all(value in os.environ[name] for name, value in SETTINGS.items())
