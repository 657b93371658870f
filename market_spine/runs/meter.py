"""What a run cost: its CPU time, peak memory, the bytes it read and wrote and the provider
requests it sent, measured by the run's own executor (`runs.metered_executor`) in the process
executing it, whatever launched it (the CLI, the daemon, the UI, a Kubernetes Job), and recorded
on the run as tags when its steps have ended, so `market-spine runs` can show memory and MB/s
beside the rows the assets reported and `market-spine cost` can price it. The CPU of each step
executed in the run's own process (the in-process executor, the default: one step after
another) is measured too, and recorded per asset (`StepCpu`)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import psutil

from market_spine.runs.provenance import PREFIX

#: Peak resident memory of the run's processes (its own and its step processes), in MiB.
PEAK_MEMORY_MB = PREFIX + "peak_memory_mb"
#: Bytes the run's processes wrote (files and databases: the lake, the instance), in MiB.
WRITTEN_MB = PREFIX + "written_mb"
#: Bytes the run's processes read (files and databases: the lake, the instance), in MiB.
READ_MB = PREFIX + "read_mb"
#: CPU time (user + system) the run's processes spent during the run, in seconds.
CPU_S = PREFIX + "cpu_s"
#: Requests sent to market-data providers during the run: `thetadata=120,ib=0`.
PROVIDER_REQUESTS = PREFIX + "provider_requests"
#: CPU seconds of the steps executed in the run's own process, per asset they output or check:
#: `raw/futures_bars_1m=1.25,normalized/futures_bars_1m=0.40` (a step of several assets shares
#: its CPU equally by them). Assets of steps run elsewhere (a process per step) are absent.
ASSET_CPU_S = PREFIX + "asset_cpu_s"
#: The run the figures were measured on: a re-execution copies its parent's tags, and its
#: parent's figures are not its own.
METERED_RUN = PREFIX + "metered_run"
#: Every tag a metered run records about itself (a retry inherits none of them).
MEASUREMENTS = (
    PEAK_MEMORY_MB,
    WRITTEN_MB,
    READ_MB,
    CPU_S,
    PROVIDER_REQUESTS,
    ASSET_CPU_S,
    METERED_RUN,
)


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


def _reaped_cpu(process: psutil.Process) -> float:
    """CPU time of the children this process has waited for (0 where the OS does not say)."""
    times = process.cpu_times()
    return float(getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0))


@dataclass
class StepCpu:
    """The CPU time of each step executed in this process, per asset: a step's start and end
    events come through the executor as they happen, one step after another, so the process's
    CPU time between them is the step's. `assets_of(step_key)` names the assets a step outputs
    or checks; a step executed in another process (its events carry that process's id) is not
    measured here, nor a step of no asset."""

    assets_of: Callable[[str], Iterable[str]]
    by_asset: dict[str, float] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)
    _process: psutil.Process = field(default_factory=psutil.Process)

    def step_started(self, step_key: str, pid: int | None) -> None:
        if pid == os.getpid():
            self._started[step_key] = _cpu(self._process)

    def step_ended(self, step_key: str, pid: int | None) -> None:
        began = self._started.pop(step_key, None)
        if began is None or pid != os.getpid():
            return
        assets = sorted(set(self.assets_of(step_key)))
        spent = max(0.0, _cpu(self._process) - began)
        for asset in assets:
            self.by_asset[asset] = self.by_asset.get(asset, 0.0) + spent / len(assets)


@dataclass
class _Child:
    """The last figures seen of a step process: it may end between two samples."""

    cpu: float = 0.0
    read: int = 0
    written: int = 0


def _child_pids(pid: int) -> list[int]:
    """The pids `pid`'s threads started, from /proc/<pid>/task/*/children; none for a process
    that has ended."""
    found: list[int] = []
    try:
        tasks = list(os.scandir(f"/proc/{pid}/task"))
    except OSError:
        return found
    for task in tasks:
        try:
            with open(os.path.join(task.path, "children")) as f:
                found.extend(int(p) for p in f.read().split())
        except OSError:
            continue
    return found


#: Whether this kernel lists each task's children (Linux with CONFIG_PROC_CHILDREN).
_LISTS_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _descendants_of(process: psutil.Process) -> list[psutil.Process]:
    """`process`'s descendants. psutil finds them by reading every process's status on the
    machine (15 ms with 130 processes), five times a second while a run executes; where the
    kernel lists each task's children, only the run's own tree is read."""
    if not _LISTS_CHILDREN:
        return process.children(recursive=True)
    found: list[psutil.Process] = []
    pending = _child_pids(process.pid)
    while pending:
        pid = pending.pop()
        try:
            found.append(psutil.Process(pid))
        except psutil.Error:  # ended since its parent listed it
            continue
        pending.extend(_child_pids(pid))
    return found


class RunMeter:
    """Measures this process and the descendants it starts (the step processes of a
    multiprocess run) while a run executes: `start()` samples them in the background, `tags()`
    stops and records. CPU of the descendants is what the OS reports once they are waited for
    (else their last sample); their bytes and memory are their last sample, taken every
    `interval_s` seconds."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self._process = psutil.Process()
        self._interval_s = interval_s
        self._read_before, self._written_before = _io(self._process)
        self._cpu_before = _cpu(self._process)
        self._reaped_before = _reaped_cpu(self._process)
        self._children: dict[tuple[int, float], _Child] = {}
        # Processes this one started before the run (a `market-spine up`'s servers) are not
        # the run's.
        self._before_run = {key for key, _ in self._descendants()}
        self._peak = self._process.memory_info().rss
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def start(self) -> RunMeter:
        """Sample in a daemon thread until `tags()`."""
        self._sampler = threading.Thread(target=self._run, name="run-meter", daemon=True)
        self._sampler.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def sample(self) -> None:
        """Note the tree's resident memory if it is the highest yet, and each descendant's
        CPU time and bytes so far."""
        try:
            rss = self._process.memory_info().rss
        except psutil.Error:
            return
        seen: list[tuple[tuple[int, float], _Child]] = []
        for key, child in self._descendants():
            if key in self._before_run:
                continue
            try:
                with child.oneshot():
                    rss += child.memory_info().rss
                    read, written = _io(child)
                    seen.append((key, _Child(_cpu(child), read, written)))
            except psutil.Error:
                continue
        with self._lock:
            self._peak = max(self._peak, rss)
            self._children.update(seen)

    def _descendants(self) -> list[tuple[tuple[int, float], psutil.Process]]:
        """This process's descendants, each keyed by pid and start time (a pid is reused)."""
        found = []
        try:
            children = _descendants_of(self._process)
        except psutil.Error:
            return []
        for child in children:
            try:
                found.append(((child.pid, child.create_time()), child))
            except psutil.Error:
                continue
        return found

    def stop(self) -> None:
        """Stop the background sampling (again is harmless)."""
        self._stop.set()
        if self._sampler is not None and self._sampler is not threading.current_thread():
            self._sampler.join()

    def tags(
        self,
        run_id: str,
        provider_requests: Mapping[str, int],
        asset_cpu: Mapping[str, float] | None = None,
    ) -> dict[str, str]:
        """Stop sampling; the run-level metrics of `run_id` as tags (MiB with one decimal, CPU
        seconds with two), with the `provider_requests` its steps reported and the CPU seconds
        measured per asset (`StepCpu`). The figures are differences over the run: a process
        executing runs one after another (the CLI's gap fill) charges each its own."""
        self.stop()
        self.sample()
        read, written = _io(self._process)
        with self._lock:
            children = list(self._children.values())
        own_cpu = _cpu(self._process) - self._cpu_before
        reaped = _reaped_cpu(self._process) - self._reaped_before
        cpu = own_cpu + max(reaped, sum(c.cpu for c in children))
        read += sum(c.read for c in children)
        written += sum(c.written for c in children)
        return {
            PEAK_MEMORY_MB: f"{self._peak / 2**20:.1f}",
            WRITTEN_MB: f"{max(0, written - self._written_before) / 2**20:.1f}",
            READ_MB: f"{max(0, read - self._read_before) / 2**20:.1f}",
            CPU_S: f"{max(0.0, cpu):.2f}",
            PROVIDER_REQUESTS: ",".join(
                f"{p}={n}" for p, n in sorted(provider_requests.items()) if n > 0
            ),
            ASSET_CPU_S: ",".join(f"{a}={s:.3f}" for a, s in sorted((asset_cpu or {}).items())),
            METERED_RUN: run_id,
        }


def measured(tags: Mapping[str, str], run_id: str) -> tuple[float | None, float | None]:
    """(peak memory MiB, written MiB) a run recorded for itself; None for what it did not."""
    if tags.get(METERED_RUN) != run_id:
        return None, None
    return _number(tags.get(PEAK_MEMORY_MB)), _number(tags.get(WRITTEN_MB))


@dataclass(frozen=True)
class RunUsage:
    """What one run consumed: CPU seconds, peak resident MiB, MiB read and written, requests
    per provider, and the CPU seconds measured per asset (of the steps measured: see
    ASSET_CPU_S; part of `cpu_s`)."""

    cpu_s: float
    peak_memory_mb: float
    read_mb: float
    written_mb: float
    provider_requests: dict[str, int]
    asset_cpu_s: dict[str, float] = field(default_factory=dict)


def usage(tags: Mapping[str, str], run_id: str) -> RunUsage | None:
    """The usage a run recorded for itself; None when it recorded none (still running,
    executed by a process that does not meter, or metered before CPU time was recorded)."""
    if tags.get(METERED_RUN) != run_id or CPU_S not in tags:
        return None
    requests: dict[str, int] = {}
    for part in filter(None, tags.get(PROVIDER_REQUESTS, "").split(",")):
        provider, _, count = part.partition("=")
        requests[provider] = int(_number(count) or 0)
    asset_cpu: dict[str, float] = {}
    for part in filter(None, tags.get(ASSET_CPU_S, "").split(",")):
        asset, _, seconds = part.rpartition("=")
        asset_cpu[asset] = _number(seconds) or 0.0
    return RunUsage(
        cpu_s=_number(tags.get(CPU_S)) or 0.0,
        peak_memory_mb=_number(tags.get(PEAK_MEMORY_MB)) or 0.0,
        read_mb=_number(tags.get(READ_MB)) or 0.0,
        written_mb=_number(tags.get(WRITTEN_MB)) or 0.0,
        provider_requests=requests,
        asset_cpu_s=asset_cpu,
    )


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None
