"""A home's state as Prometheus metrics, computed when `/metrics` is scraped and kept TTL_S:
the freshness lag of each dataset and symbol, the latest check results by severity, runs active
and finished (durations, rows written), unrepaired failures, missed schedule ticks and free disk.

Everything comes from the reads `market-spine status` and the alert rules make: the latest
check evaluations in the Dagster instance (freshness checks among them, so no lake read), the
run records, the schedules' ticks, the disk holding the home. Severities are the alert rules'
(critical, error, warning).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import dagster as dg
from prometheus_client.core import GaugeMetricFamily, Metric

from market_spine.check_kit import is_finding
from market_spine.futures.freshness import FRESHNESS_SLA
from market_spine.operations.alerts.runs import check_severity
from market_spine.operations.freshness import CHAIN_FRESHNESS_CHECK_KEY, FRESHNESS_CHECK_KEY
from market_spine.operations.run_history import ACTIVE
from market_spine.operations.run_tally import RunTally
from market_spine.operations.status import (
    check_evaluation,
    home_disk,
    is_freshness,
    latest_check_executions,
    missed_ticks,
    recent_failures,
    recent_freshness_evaluations,
)
from market_spine.options.freshness import EOD_FRESHNESS_SLA
from market_spine.settings import Settings

log = logging.getLogger(__name__)

#: Scrapes within this many seconds of a computation are answered from it.
TTL_S = 15.0
#: The freshness SLA of each freshness check, by the dataset it judges.
SLA_SECONDS = {
    FRESHNESS_CHECK_KEY.asset_key.to_user_string(): FRESHNESS_SLA.total_seconds(),
    CHAIN_FRESHNESS_CHECK_KEY.asset_key.to_user_string(): EOD_FRESHNESS_SLA.total_seconds(),
}


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


class HomeMetrics:
    """A Prometheus collector of one home: register it in a registry; each collection within
    `ttl_s` of the last computation is answered from it. `open_instance` gives the home's
    Dagster instance, or None before the home has one."""

    def __init__(
        self,
        settings: Settings,
        open_instance: Callable[[], dg.DagsterInstance | None],
        ttl_s: float = TTL_S,
    ) -> None:
        self.settings = settings
        self.ttl_s = ttl_s
        self._open_instance = open_instance
        self._instance: dg.DagsterInstance | None = None
        self._tally = RunTally()
        self._lock = threading.Lock()
        self._computed_at: float | None = None
        self._families: list[Metric] = []
        #: Set once the first computation is done (by `warm` or a scrape).
        self.warmed = threading.Event()

    def collect(self) -> Iterator[Metric]:
        """The home's metric families, recomputed when older than `ttl_s`."""
        with self._lock:
            if self._computed_at is None or time.monotonic() - self._computed_at >= self.ttl_s:
                self._families = self.compute(datetime.now(UTC))
                self._computed_at = time.monotonic()
            families = self._families
        self.warmed.set()
        yield from families

    def warm_in_background(self) -> threading.Thread:
        """Make the first computation now, on a thread of its own, so the first scrape finds
        it done: the first one opens the instance and reads a day of runs, seconds a scrape
        must not wait. A scrape that comes meanwhile waits for it rather than repeating it."""

        def warm() -> None:
            try:
                for _ in self.collect():
                    pass
            except Exception:  # a scrape will compute (and report the failing part) itself
                log.exception("metrics: warming the home's metrics failed")

        thread = threading.Thread(target=warm, name="metrics-warm", daemon=True)
        thread.start()
        return thread

    def compute(self, now: datetime) -> list[Metric]:
        """Every family now; a part that fails is reported in `market_spine_metrics_part_ok`
        (0) and logged, never raised, so one bad read does not blank the scrape."""
        started = time.perf_counter()
        families: list[Metric] = []
        ok = _gauge(
            "market_spine_metrics_part_ok",
            "1 when this part of the home's metrics was read at the last computation, else 0.",
            ["part"],
        )
        if self._instance is None:
            self._instance = self._open_instance()
        instance = self._instance
        parts: list[tuple[str, Callable[[], list[Metric]]]] = [
            ("disk", self._disk),
        ]
        if instance is not None:
            parts += [
                ("freshness", lambda: _freshness(instance)),
                ("checks", lambda: _checks(instance)),
                ("runs", lambda: self._runs(instance, now)),
                ("ticks", lambda: _ticks(instance, now)),
            ]
        for part, read in parts:
            try:
                families += read()
                ok.add_metric([part], 1)
            except Exception:
                log.exception("metrics: reading %s failed", part)
                ok.add_metric([part], 0)
        up = _gauge(
            "market_spine_instance_up",
            "1 when the home has a Dagster instance the metrics were read from, else 0.",
            [],
        )
        up.add_metric([], int(instance is not None))
        seconds = _gauge(
            "market_spine_metrics_compute_seconds",
            "Seconds the last computation of the home's metrics took.",
            [],
        )
        seconds.add_metric([], time.perf_counter() - started)
        return [*families, ok, up, seconds]

    def _disk(self) -> list[Metric]:
        where, free, total = home_disk(self.settings.home)
        free_g = _gauge(
            "market_spine_disk_free_bytes", "Free bytes on the disk holding the home.", ["path"]
        )
        size_g = _gauge(
            "market_spine_disk_size_bytes", "Size in bytes of the disk holding the home.", ["path"]
        )
        free_g.add_metric([str(where)], free)
        size_g.add_metric([str(where)], total)
        return [free_g, size_g]

    def _runs(self, instance: dg.DagsterInstance, now: datetime) -> list[Metric]:
        active = _gauge(
            "market_spine_runs_active", "Dagster runs queued or executing, by status.", ["status"]
        )
        for status in ACTIVE:
            n = instance.get_runs_count(dg.RunsFilter(statuses=[status]))
            active.add_metric([status.value], n)
        failures = _gauge(
            "market_spine_run_failures_open",
            "Runs that failed or were canceled in the last 24 h and that nothing repaired since "
            "(as `market-spine status` lists them).",
            [],
        )
        failures.add_metric([], len(recent_failures(instance, now)))
        self._tally.update(instance, now)
        return [active, failures, *self._tally.families()]


def _checks(instance: dg.DagsterInstance) -> list[Metric]:
    """The latest evaluation of every check (freshness checks aside) and partition, counted
    as passing, or failing by severity."""
    passing = _gauge(
        "market_spine_check_partitions_passing",
        "Partitions (or whole assets) whose latest evaluation of the check passed.",
        ["dataset", "check"],
    )
    failing = _gauge(
        "market_spine_check_partitions_failing",
        "Partitions (or whole assets) whose latest evaluation of the check failed, by severity "
        "(critical: blocking; error; warning).",
        ["dataset", "check", "severity"],
    )
    passed: Counter[tuple[str, str]] = Counter()
    failed: Counter[tuple[str, str, str]] = Counter()
    for asset_key, name, _, status, _, serialized in latest_check_executions(instance):
        if is_freshness(name) or not is_finding(name):
            continue
        dataset = _dataset(asset_key)
        if status == "FAILED":
            evaluation = check_evaluation(serialized)
            severity = "error" if evaluation is None else check_severity(evaluation).value
            failed[(dataset, name, severity)] += 1
        else:
            passed[(dataset, name)] += 1
    for labels, n in sorted(passed.items()):
        passing.add_metric(list(labels), n)
    for labels, n in sorted(failed.items()):
        failing.add_metric(list(labels), n)
    return [passing, failing]


def _freshness(instance: dg.DagsterInstance) -> list[Metric]:
    """Each dataset and symbol's latest freshness verdict: its lag and whether it was stale,
    from the newest evaluation that judged it."""
    lag = _gauge(
        "market_spine_freshness_lag_seconds",
        "Open-market seconds from the symbol's newest data to its latest freshness judgement "
        "(the clock stops while the market is closed).",
        ["dataset", "symbol"],
    )
    stale = _gauge(
        "market_spine_freshness_stale",
        "1 when the symbol's latest freshness judgement found it stale (lag over the SLA).",
        ["dataset", "symbol"],
    )
    evaluated = _gauge(
        "market_spine_freshness_evaluated_timestamp_seconds",
        "When the symbol's freshness was last judged (Unix time).",
        ["dataset", "symbol"],
    )
    sla = _gauge(
        "market_spine_freshness_sla_seconds",
        "The freshness SLA of the dataset, in open-market seconds.",
        ["dataset"],
    )
    judged: set[tuple[str, str]] = set()
    for asset_key, _, at, serialized in recent_freshness_evaluations(instance):
        dataset = _dataset(asset_key)
        metadata = getattr(check_evaluation(serialized), "metadata", {}) or {}
        lags = getattr(metadata.get("lag_minutes"), "value", None) or {}
        named = ",".join(
            str(getattr(metadata.get(f), "value", "") or "")
            for f in ("stale_symbols", "stale_roots")
        )
        stale_names = {s.strip() for s in named.split(",") if s.strip()}
        for symbol, minutes in sorted(lags.items()):
            if (dataset, symbol) in judged:
                continue  # a newer evaluation judged it
            judged.add((dataset, symbol))
            if minutes is not None:
                lag.add_metric([dataset, symbol], float(minutes) * 60)
            stale.add_metric([dataset, symbol], int(symbol in stale_names))
            evaluated.add_metric([dataset, symbol], _unix(at))
    for dataset in sorted({d for d, _ in judged}):
        if dataset in SLA_SECONDS:
            sla.add_metric([dataset], SLA_SECONDS[dataset])
    return [lag, stale, evaluated, sla]


def _dataset(asset_key: str) -> str:
    key = dg.AssetKey.from_db_string(asset_key)
    return key.to_user_string() if key else str(asset_key)


def _unix(at: datetime | float | None) -> float:
    """A check execution's stored time as Unix seconds (the table keeps naive UTC)."""
    if at is None:
        return 0.0
    if isinstance(at, datetime):
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    return float(at)


def _ticks(instance: dg.DagsterInstance, now: datetime) -> list[Metric]:
    missed = _gauge(
        "market_spine_schedule_tick_missed",
        "1 for each running schedule whose latest due tick did not come or failed (5 minutes' "
        "grace, as `market-spine status` judges it).",
        ["schedule", "problem"],
    )
    for entry in missed_ticks(instance, now):
        problem = "failed" if entry["problem"].startswith("tick failed") else "missed"
        missed.add_metric([entry["schedule"], problem], 1)
    return [missed]
