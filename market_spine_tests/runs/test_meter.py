"""The run meter counts the processes a run starts (a multiprocess run's steps), and not those
its process had started before (a `market-spine up`'s servers)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from market_spine.runs import meter

#: A child that holds 200 MiB resident, burns half a second of CPU, then sleeps `argv[1]` s.
HOLD = """
import sys, time
block = bytearray(200 * 2**20)
for i in range(0, len(block), 4096):
    block[i] = 1
end = time.process_time() + 0.5
while time.process_time() < end:
    pass
time.sleep(float(sys.argv[1]))
"""


def test_the_meter_counts_the_processes_the_run_starts_and_not_older_ones() -> None:
    older = subprocess.Popen([sys.executable, "-c", HOLD, "30"])
    try:
        time.sleep(1.5)  # resident and done burning before the run starts
        own = psutil.Process().memory_info().rss / 2**20
        metering = meter.RunMeter(interval_s=0.05).start()
        step = subprocess.Popen([sys.executable, "-c", HOLD, "0.5"])
        step.wait(timeout=60)
        used = meter.usage(metering.tags("run-1", {}), "run-1")
    finally:
        older.kill()
        older.wait()
    assert used is not None
    # The step's 200 MiB are in the peak, the older process's are not.
    assert own + 190 < used.peak_memory_mb < own + 390
    # The step's half second of CPU is counted (the OS reports it once it is waited for).
    assert 0.45 < used.cpu_s < 5.0
