"""What a run cost the process executing it: its peak memory and the bytes it wrote, sampled
while it runs and recorded on the run as tags when it ends, so `market-spine runs` can show
memory and MB/s beside the rows the assets reported."""

from __future__ import annotations

from collections.abc import Mapping

import psutil

from market_spine.runs.provenance import PREFIX

#: Peak resident memory of the executing process during the run, in MiB.
PEAK_MEMORY_MB = PREFIX + "peak_memory_mb"
#: Bytes the executing process wrote (files and databases: the lake, the instance), in MiB.
WRITTEN_MB = PREFIX + "written_mb"
#: The run the two figures were measured on: a re-execution copies its parent's tags, and its
#: parent's figures are not its own.
METERED_RUN = PREFIX + "metered_run"


def _written(process: psutil.Process) -> int:
    """Bytes passed to write calls so far (Linux `wchar`); 0 where the OS does not count them."""
    try:
        counters = process.io_counters()
    except (AttributeError, psutil.Error):
        return 0
    return int(getattr(counters, "write_chars", getattr(counters, "write_bytes", 0)))


class RunMeter:
    """Samples this process while a run executes: call `sample()` as often as is cheap (every
    poll of the run's thread), then `tags()` once it has ended."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._written_before = _written(self._process)
        self._peak = self._process.memory_info().rss

    def sample(self) -> None:
        """Note the current resident memory if it is the highest yet."""
        self._peak = max(self._peak, self._process.memory_info().rss)

    def tags(self, run_id: str) -> dict[str, str]:
        """The run-level metrics of `run_id` as tags (MiB, one decimal)."""
        self.sample()
        written = max(0, _written(self._process) - self._written_before)
        return {
            PEAK_MEMORY_MB: f"{self._peak / 2**20:.1f}",
            WRITTEN_MB: f"{written / 2**20:.1f}",
            METERED_RUN: run_id,
        }


def measured(tags: Mapping[str, str], run_id: str) -> tuple[float | None, float | None]:
    """(peak memory MiB, written MiB) a run recorded for itself; None for what it did not."""
    if tags.get(METERED_RUN) != run_id:
        return None, None
    return _number(tags.get(PEAK_MEMORY_MB)), _number(tags.get(WRITTEN_MB))


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None
