"""Counters of finished runs for Prometheus, read from the home's Dagster instance a little at a
time: each scrape reads only the runs that finished since the previous one (the first looks
back a day), and adds their outcome, duration and rows written to what it already counted. A
scrape reads at most PER_UPDATE runs, so a backlog (a first scrape after a busy day) is worked
through over the next scrapes instead of holding one.

Counters start when the process starts counting (Prometheus's `increase` and `rate` handle
that); the rows-per-second gauge is each job's newest finished run's.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from market_spine.operations.run_history import FAILED, rows_written, run_row

#: Upper bounds (seconds) of the run-duration histogram: a check run takes seconds, a day of
#: chains minutes, a backfill hours.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
#: How far back the first reading looks.
LOOKBACK = timedelta(hours=24)
#: A pass reads the runs updated from this long before the previous pass began (a run may
#: commit its update a moment after its timestamp); the ones already counted are skipped by id.
OVERLAP = timedelta(minutes=5)
PAGE = 500
PER_UPDATE = 1000
_FINISHED = [dg.DagsterRunStatus.SUCCESS, *FAILED]


@dataclass
class _Durations:
    """One job's histogram: counts per bucket (not cumulative), their sum and count."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        bounds = [*(str(b) for b in DURATION_BUCKETS), "+Inf"]
        running, found = 0, []
        for bound, n in zip(bounds, self.buckets, strict=True):
            running += n
            found.append((bound, running))
        return found


@dataclass
class _Pass:
    """One read of the runs updated after `updated_after`, begun at `started`, up to `cursor`
    (the last run id read, in storage order)."""

    updated_after: datetime
    started: datetime
    cursor: str | None = None


class RunTally:
    """Finished runs counted by job and status, their durations and the rows they wrote. Not
    thread-safe: the caller serialises `update` and `families`."""

    def __init__(
        self, lookback: timedelta = LOOKBACK, page: int = PAGE, per_update: int = PER_UPDATE
    ) -> None:
        self.lookback = lookback
        self.page = page
        self.per_update = per_update
        self.finished: Counter[tuple[str, str]] = Counter()
        self.durations: dict[str, _Durations] = {}
        self.rows: Counter[str] = Counter()
        self.rows_per_s: dict[str, float] = {}
        self._since: datetime | None = None
        self._horizon: datetime | None = None
        self._pass: _Pass | None = None
        self._seen: dict[str, datetime] = {}

    def update(self, instance: dg.DagsterInstance, now: datetime) -> int:
        """Count up to `per_update` runs finished since the last update (runs that ended before
        the first update's lookback are history, not counted); how many were counted.

        A pass reads every finished run updated since the previous pass started, in storage
        order with a cursor, so runs updated in the same instant are each read once; a pass cut
        short by `per_update` goes on from its cursor at the next update."""
        if self._horizon is None:
            self._horizon = now - self.lookback
        if self._pass is None:
            since = self._since or self._horizon
            self._pass = _Pass(updated_after=since - OVERLAP, started=now)
        current = self._pass
        counted = read = 0
        while read < self.per_update:
            limit = min(self.page, self.per_update - read)
            records = instance.get_run_records(
                filters=dg.RunsFilter(statuses=_FINISHED, updated_after=current.updated_after),
                cursor=current.cursor,
                ascending=True,
                limit=limit,
            )
            for record in records:
                run_id = record.dagster_run.run_id
                if run_id not in self._seen:
                    ended = record.end_time or record.create_timestamp.timestamp()
                    if ended >= self._horizon.timestamp():
                        self._count(instance, record)
                        counted += 1
                    self._seen[run_id] = record.update_timestamp.astimezone(UTC)
                current.cursor = run_id
            read += len(records)
            if len(records) < limit:
                # The pass reached the newest run: the next reads what changed since it began.
                self._since, self._pass = current.started, None
                keep = current.started - 2 * OVERLAP
                self._seen = {r: at for r, at in self._seen.items() if at >= keep}
                break
        return counted

    def _count(self, instance: dg.DagsterInstance, record: dg.RunRecord) -> None:
        run = record.dagster_run
        row = run_row(instance, record, metrics=False)
        self.finished[(run.job_name, run.status.value)] += 1
        if row.duration_s is None:
            return  # canceled before it started
        self.durations.setdefault(run.job_name, _Durations()).observe(row.duration_s)
        rows = rows_written(instance, run.run_id)
        if rows:
            self.rows[run.job_name] += rows
            if row.duration_s > 0:
                self.rows_per_s[run.job_name] = rows / row.duration_s

    def families(self) -> list[Metric]:
        """The tallies as Prometheus metric families."""
        finished = CounterMetricFamily(
            "market_spine_runs_finished",
            "Dagster runs finished, by job and status (SUCCESS, FAILURE, CANCELED).",
            labels=["job", "status"],
        )
        for (job, status), n in sorted(self.finished.items()):
            finished.add_metric([job, status], n)
        durations = HistogramMetricFamily(
            "market_spine_run_duration_seconds",
            "Wall time of finished Dagster runs, start to end, by job.",
            labels=["job"],
        )
        for job, histogram in sorted(self.durations.items()):
            durations.add_metric([job], histogram.cumulative(), histogram.total)
        rows = CounterMetricFamily(
            "market_spine_run_rows_written",
            "Rows finished runs wrote (their materializations' `rows`), by job.",
            labels=["job"],
        )
        for job, n in sorted(self.rows.items()):
            rows.add_metric([job], n)
        rate = GaugeMetricFamily(
            "market_spine_run_rows_per_second",
            "Rows per second of wall time of each job's newest finished run that wrote rows.",
            labels=["job"],
        )
        for job, value in sorted(self.rows_per_s.items()):
            rate.add_metric([job], value)
        return [finished, durations, rows, rate]
