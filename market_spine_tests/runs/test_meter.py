"""The run meter counts the processes a run starts (a multiprocess run's steps), and not those
its process had started before (a `market-spine up`'s servers)."""

from __future__ import annotations

import os
import signal
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


def test_the_run_tree_read_from_the_kernel_is_the_tree_psutil_finds() -> None:
    # A child that started two grandchildren, and a second child: four descendants. Other
    # threads of this process (a test worker's servers) may start or end children meanwhile:
    # what psutil sees before and after must be found, and nothing outside what it saw.
    trees = [
        subprocess.Popen(["bash", "-c", "sleep 30 & sleep 30; wait"], start_new_session=True),
        subprocess.Popen(["sleep", "30"], start_new_session=True),
    ]
    try:
        me = psutil.Process()
        deadline = time.monotonic() + 30
        while len(me.children(recursive=True)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = {c.pid for c in me.children(recursive=True)}
        found = {c.pid for c in meter._descendants_of(me)}
        after = {c.pid for c in me.children(recursive=True)}
        assert {p.pid for p in trees} <= found
        assert before & after <= found <= before | after
        assert len(found & before & after) >= 4
    finally:
        for p in trees:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
