"""How long filling gaps takes, from the home's own runs: each recent successful run of the
datasets measured from its launch to its end (created → ended, so the run queue, the launch of
its process and its steps all count), fitted as a cost per run plus a cost per trade date; the
fill's planned runs are then laid out `concurrency` at a time.

Step throughput alone misses most of a small fill: a run of one trade date spends seconds in
its steps and far longer queued and launched. And when the daemon executes the fill, its runs
join the run queue: behind the runs queued or running now (each at the time its kind of run
took lately), at most the queue's `max_concurrent_runs` at once, whatever `--concurrency` says.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, Protocol

import dagster as dg
from dagster._core.storage.dagster_run import RunRecord
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
    PARTITION_NAME_TAG,
)

from market_spine.markets import expirations

#: Successful runs measured (the most recent ones).
MEASURED_RUNS = 50
#: Runs of earlier fills it takes to measure by them alone.
MIN_FILL_RUNS = 3


class PlannedRun(Protocol):
    """A run a fill will launch: its domain and the trade dates it covers."""

    @property
    def domain(self) -> str: ...

    @property
    def days(self) -> Sequence[date]: ...


@dataclass(frozen=True)
class RunTimes:
    """A domain's runs as measured: `per_run_s` every run costs whatever it covers (queue,
    launch, set-up) and `per_day_s` each trade date adds, in seconds, over the last `runs`
    successful runs (runs of earlier fills when `fills`); both None when there was none."""

    domain: str
    runs: int
    per_run_s: float | None = None
    per_day_s: float | None = None
    fills: bool = False

    def seconds(self, days: int) -> float | None:
        """The expected wall time of a run over `days` trade dates; None when unmeasured."""
        if self.per_run_s is None or self.per_day_s is None:
            return None
        return self.per_run_s + days * self.per_day_s

    def describe(self) -> str:
        """`futures: 25.3 s a run + 1.2 s a trade date (the last 12 runs, launch to end)`."""
        if self.per_run_s is None or self.per_day_s is None:
            return f"{self.domain}: no successful run to measure yet"
        which = "fill run" if self.fills else "run"
        return (
            f"{self.domain}: {self.per_run_s:.1f} s a run + {self.per_day_s:.1f} s a trade date "
            f"(the last {self.runs} {which}{'' if self.runs == 1 else 's'}, launch to end)"
        )


def fit(domain: str, samples: Sequence[tuple[int, float, float]], fills: bool = False) -> RunTimes:
    """RunTimes from `(trade dates, launch-to-end s, start-to-end s)` per run (`fills` when they
    are runs of earlier fills). Runs of several sizes: a least-squares line through (trade
    dates, launch to end). Otherwise, or when that line is not credible: a run's cost is its
    time before its steps start, a trade date's its share of the steps."""
    if not samples:
        return RunTimes(domain, 0)
    sizes = [n for n, _, _ in samples]
    walls = [wall for _, wall, _ in samples]
    count = len(samples)
    if len(set(sizes)) > 1 and count >= 3:
        mean_n, mean_wall = sum(sizes) / count, sum(walls) / count
        spread = sum((n - mean_n) ** 2 for n in sizes)
        slope = sum((n - mean_n) * (w - mean_wall) for n, w in zip(sizes, walls, strict=True))
        per_day, per_run = slope / spread, mean_wall - slope / spread * mean_n
        # A line that says a trade date costs nothing, or a run less than nothing, is noise
        # in too narrow a spread of sizes: the split below does not extrapolate it.
        if per_day > 0 and per_run >= 0:
            return RunTimes(domain, count, per_run, per_day, fills)
    per_run = sum(wall - steps for _, wall, steps in samples) / count
    per_day = sum(steps for _, _, steps in samples) / sum(sizes)
    return RunTimes(domain, count, max(0.0, per_run), per_day, fills)


def measure(instance: dg.DagsterInstance, domain: str, keys: Iterable[dg.AssetKey]) -> RunTimes:
    """The domain's run times over its most recent successful runs materializing any of `keys`
    (the domain's assets) over named partitions."""
    wanted = set(keys)
    records = instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]), limit=MEASURED_RUNS * 4
    )
    filled = [r for r in records if BACKFILL_ID_TAG in r.dagster_run.tags]
    # Earlier fills are the best measure of the next: launched the same way, through the
    # same queue. Other runs (`process`, the UI) stand in until there are a few.
    from_fills = _samples(filled, domain, wanted)
    if len(from_fills) >= MIN_FILL_RUNS:
        return fit(domain, from_fills, fills=True)
    return fit(domain, _samples(records, domain, wanted))


def _samples(
    records: Sequence[RunRecord], domain: str, wanted: set[dg.AssetKey]
) -> list[tuple[int, float, float]]:
    samples = []
    for record in records:
        run = record.dagster_run
        if not run.asset_selection or not run.asset_selection & wanted:
            continue
        if record.start_time is None or record.end_time is None:
            continue
        days = trade_dates_of(domain, run.tags)
        if not days:
            continue
        launched = record.create_timestamp.timestamp()
        wall = max(record.end_time - launched, 0.0)
        samples.append((days, wall, max(record.end_time - record.start_time, 0.0)))
        if len(samples) >= MEASURED_RUNS:
            break
    return samples


def trade_dates_of(domain: str, tags: Mapping[str, str]) -> int:
    """Trade dates a run covered, by its partition tags (0 when it names none)."""
    if PARTITION_NAME_TAG in tags:
        return 1
    first, last = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if not first or not last:
        return 0
    lo, hi = date.fromisoformat(first[:10]), date.fromisoformat(last[:10])
    days = [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
    if domain == "futures":
        return sum(1 for d in days if d.weekday() < 5)
    return sum(1 for d in days if expirations.is_trading_day(d))


#: Active runs the queue estimate reads (a queue longer than this is counted, its tail at the
#: typical time).
QUEUE_READ = 500
#: Recent successful runs read to learn how long each kind of run takes.
KINDS_READ = 300
_RUNNING = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)
_WAITING = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED)


@dataclass(frozen=True)
class RunQueue:
    """The run queue a fill the daemon executes joins: at most `limit` runs at once (the
    instance's `concurrency.runs.max_concurrent_runs`), behind `running` runs with `left_s`
    seconds each still to go (running first, then queued in queue order: `queued` of them),
    each as long as its kind of run (job and assets) took lately, launch to end; `unmeasured`
    of them had no such run, and count at the median of every recent run (or 0 without one)."""

    limit: int
    running: int
    queued: int
    left_s: tuple[float, ...]
    unmeasured: int = 0

    def describe(self) -> str:
        """`the daemon's run queue: 2 runs at once (concurrency.runs.max_concurrent_runs, not
        --concurrency), behind 1 running and 3 queued (about 4m 10s of their work)`."""
        head = (
            f"the daemon's run queue: {self.limit} run{'' if self.limit == 1 else 's'} at once "
            "(concurrency.runs.max_concurrent_runs, not --concurrency)"
        )
        if not self.left_s:
            return head + ", nothing ahead"
        work = sum(self.left_s)
        guess = f"; {self.unmeasured} of a kind never measured" if self.unmeasured else ""
        return (
            f"{head}, behind {self.running} running and {self.queued} queued "
            f"(about {work:.0f} s of their work{guess})"
        )


def run_queue(instance: dg.DagsterInstance, now: float | None = None) -> RunQueue | None:
    """The instance's run queue as a fill joining it now would find it; None when the instance
    has no queue (its runs launch at once, so nothing waits ahead)."""
    config = instance.get_concurrency_config().run_queue_config
    if config is None:
        return None
    now = time.time() if now is None else now
    active = instance.get_run_records(
        dg.RunsFilter(statuses=[*_RUNNING, *_WAITING]), limit=QUEUE_READ, ascending=True
    )
    typical, fallback = _typical_times(instance)
    running, waiting, unmeasured = [], [], 0
    for record in active:
        seconds = typical.get(_kind(record.dagster_run))
        if seconds is None:
            unmeasured += 1
            seconds = fallback
        if record.dagster_run.status in _RUNNING:
            running.append(max(seconds - (now - record.create_timestamp.timestamp()), 0.0))
        else:
            waiting.append(seconds)
    return RunQueue(
        config.max_concurrent_runs,
        len(running),
        len(waiting),
        tuple(running + waiting),
        unmeasured,
    )


def _kind(run: dg.DagsterRun) -> tuple[str, frozenset[dg.AssetKey]]:
    return run.job_name, frozenset(run.asset_selection or ())


def _typical_times(
    instance: dg.DagsterInstance,
) -> tuple[dict[tuple[str, frozenset[dg.AssetKey]], float], float]:
    """The median launch-to-end seconds of each kind of run among the recent successful ones,
    and of them all (0 without any)."""
    records = instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]), limit=KINDS_READ
    )
    walls: dict[tuple[str, frozenset[dg.AssetKey]], list[float]] = {}
    for record in records:
        if record.end_time is None:
            continue
        wall = max(record.end_time - record.create_timestamp.timestamp(), 0.0)
        walls.setdefault(_kind(record.dagster_run), []).append(wall)
    every = [w for kind in walls.values() for w in kind]
    fallback = statistics.median(every) if every else 0.0
    return {k: statistics.median(v) for k, v in walls.items()}, fallback


@dataclass(frozen=True)
class FillEstimate:
    """The wall time of a fill of `runs` runs, `concurrency` at a time, in seconds (None when a
    domain it needs has no measured run), with the measures it rests on and, when the daemon
    executes it, the run queue it joins."""

    seconds: float | None
    runs: int
    concurrency: int
    based_on: tuple[RunTimes, ...]
    queue: RunQueue | None = None

    def basis(self) -> str:
        """What the estimate rests on, in a line."""
        if not self.runs:
            return "nothing to run"
        plural = "" if self.runs == 1 else "s"
        measures = "; ".join(t.describe() for t in self.based_on)
        if self.queue is not None:
            return f"{self.runs} run{plural} in {self.queue.describe()}; {measures}"
        return f"{self.runs} run{plural}, {self.concurrency} at once, executed here; {measures}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "runs": self.runs,
            "concurrency": self.concurrency,
            "based_on": [asdict(t) for t in self.based_on],
            "queue": None if self.queue is None else asdict(self.queue),
            "basis": self.basis(),
        }


def estimate(
    planned: Sequence[PlannedRun],
    times: Mapping[str, RunTimes],
    concurrency: int,
    queue: RunQueue | None = None,
) -> FillEstimate:
    """The fill's wall time: each planned run at its domain's measured time for its trade
    dates, handed in order to the first of `concurrency` slots to come free. Joining `queue`
    (the daemon executes the fill), the slots are the queue's limit and the runs ahead of the
    fill take them first."""
    domains = sorted({run.domain for run in planned})
    based_on = tuple(times.get(d, RunTimes(d, 0)) for d in domains)
    width = queue.limit if queue is not None else concurrency
    slots = [0.0] * max(1, width)
    for ahead in queue.left_s if queue is not None else ():
        free = slots.index(min(slots))
        slots[free] += ahead
    for run in planned:
        seconds = times.get(run.domain, RunTimes(run.domain, 0)).seconds(len(run.days))
        if seconds is None:
            return FillEstimate(None, len(planned), width, based_on, queue)
        free = slots.index(min(slots))
        slots[free] += seconds
    return FillEstimate(max(slots), len(planned), width, based_on, queue)
