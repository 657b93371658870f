"""What a run cost the process executing it: its CPU time, peak memory, the bytes it read and
wrote and the provider requests it sent, sampled while it runs and recorded on the run as tags
when it ends, so `market-spine runs` can show memory and MB/s beside the rows the assets
reported and `market-spine cost` can price it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psutil

from market_spine.observability.metrics import requests_sent
from market_spine.runs.provenance import PREFIX

#: Peak resident memory of the executing process during the run, in MiB.
PEAK_MEMORY_MB = PREFIX + "peak_memory_mb"
#: Bytes the executing process wrote (files and databases: the lake, the instance), in MiB.
WRITTEN_MB = PREFIX + "written_mb"
#: Bytes the executing process read (files and databases: the lake, the instance), in MiB.
READ_MB = PREFIX + "read_mb"
#: CPU time (user + system) the executing process spent during the run, in seconds.
CPU_S = PREFIX + "cpu_s"
#: Requests sent to market-data providers during the run: `thetadata=120,ib=0`.
PROVIDER_REQUESTS = PREFIX + "provider_requests"
#: The run the figures were measured on: a re-execution copies its parent's tags, and its
#: parent's figures are not its own.
METERED_RUN = PREFIX + "metered_run"
#: Every tag a metered run records about itself (a retry inherits none of them).
MEASUREMENTS = (PEAK_MEMORY_MB, WRITTEN_MB, READ_MB, CPU_S, PROVIDER_REQUESTS, METERED_RUN)


def _io(process: psutil.Process) -> tuple[int, int]:
    """Bytes passed to read and write calls so far (Linux `rchar`, `wchar`); 0 where the OS does
    not count them."""
    try:
        counters = process.io_counters()
    except (AttributeError, psutil.Error):
        return 0, 0
    read = getattr(counters, "read_chars", getattr(counters, "read_bytes", 0))
    written = getattr(counters, "write_chars", getattr(counters, "write_bytes", 0))
    return int(read), int(written)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


class RunMeter:
    """Samples this process while a run executes: call `sample()` as often as is cheap (every
    poll of the run's thread), then `tags()` once it has ended."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._read_before, self._written_before = _io(self._process)
        self._cpu_before = _cpu(self._process)
        self._requests_before = requests_sent()
        self._peak = self._process.memory_info().rss

    def sample(self) -> None:
        """Note the current resident memory if it is the highest yet."""
        self._peak = max(self._peak, self._process.memory_info().rss)

    def tags(self, run_id: str) -> dict[str, str]:
        """The run-level metrics of `run_id` as tags (MiB with one decimal, CPU seconds with
        two). The process's figures are differences over the run: a process executing runs one
        after another (the CLI's gap fill) charges each its own."""
        self.sample()
        read, written = _io(self._process)
        requests = requests_sent()
        sent = {
            provider: int(count - self._requests_before.get(provider, 0))
            for provider, count in sorted(requests.items())
        }
        return {
            PEAK_MEMORY_MB: f"{self._peak / 2**20:.1f}",
            WRITTEN_MB: f"{max(0, written - self._written_before) / 2**20:.1f}",
            READ_MB: f"{max(0, read - self._read_before) / 2**20:.1f}",
            CPU_S: f"{max(0.0, _cpu(self._process) - self._cpu_before):.2f}",
            PROVIDER_REQUESTS: ",".join(f"{p}={n}" for p, n in sent.items() if n > 0),
            METERED_RUN: run_id,
        }


def measured(tags: Mapping[str, str], run_id: str) -> tuple[float | None, float | None]:
    """(peak memory MiB, written MiB) a run recorded for itself; None for what it did not."""
    if tags.get(METERED_RUN) != run_id:
        return None, None
    return _number(tags.get(PEAK_MEMORY_MB)), _number(tags.get(WRITTEN_MB))


@dataclass(frozen=True)
class RunUsage:
    """What one run consumed: CPU seconds, peak resident MiB, MiB read and written, and
    requests per provider."""

    cpu_s: float
    peak_memory_mb: float
    read_mb: float
    written_mb: float
    provider_requests: dict[str, int]


def usage(tags: Mapping[str, str], run_id: str) -> RunUsage | None:
    """The usage a run recorded for itself; None when it recorded none (still running,
    executed by a process that does not meter, or metered before CPU time was recorded)."""
    if tags.get(METERED_RUN) != run_id or CPU_S not in tags:
        return None
    requests: dict[str, int] = {}
    for part in filter(None, tags.get(PROVIDER_REQUESTS, "").split(",")):
        provider, _, count = part.partition("=")
        requests[provider] = int(_number(count) or 0)
    return RunUsage(
        cpu_s=_number(tags.get(CPU_S)) or 0.0,
        peak_memory_mb=_number(tags.get(PEAK_MEMORY_MB)) or 0.0,
        read_mb=_number(tags.get(READ_MB)) or 0.0,
        written_mb=_number(tags.get(WRITTEN_MB)) or 0.0,
        provider_requests=requests,
    )


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None
