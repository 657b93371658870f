"""Filling gaps as one Dagster asset backfill: planned in batches, visible on the UI's backfills
page, paused and resumed without redoing completed partitions.

The backfill is a real `PartitionBackfill` whose target is the gaps. When the instance's backfill
daemon is alive, it executes the backfill (one run per contiguous range, the assets' backfill
policy, the run queue's limits). Otherwise this process executes it the way `market-spine
process` executes runs: each batch a run of the deployed code location tagged with the backfill,
`concurrency` at a time, past failures, recording what each run materialized or failed in the
backfill so the UI shows its progress. Pausing cancels the backfill (runs under way finish and
keep their partitions); resuming launches a new backfill for what is still missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.execution.backfill import (
    BULK_ACTION_TERMINAL_STATUSES,
    BulkActionStatus,
    PartitionBackfill,
)
from dagster._core.storage.partition_status_cache import AssetPartitionStatus
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.utils import make_new_backfill_id

from market_spine.errors import InvalidInput
from market_spine.futures.partitions import partition_key
from market_spine.operations.gaps import Gap, datasets, owed_days
from market_spine.providers.resource import MarketDataResource
from market_spine.runs import provenance
from market_spine.runs.deployment import daemon_running
from market_spine.settings import Settings

#: The tag a resumed backfill carries: the id of the paused backfill it continues.
RESUMES = provenance.PREFIX + "resumes"
#: Seconds between looks at a backfill the daemon executes.
POLL_S = 2.0
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Owed:
    """One asset partition to fill: its domain, trade date and futures root (None for options)."""

    domain: str
    asset: dg.AssetKey
    trade_date: date
    symbol: str | None

    @property
    def key(self) -> str:
        if self.symbol is None:
            return self.trade_date.isoformat()
        return str(partition_key(self.trade_date, self.symbol))


@dataclass(frozen=True)
class Batch:
    """One run of a fill: consecutive owed trade dates of one symbol (or of the option chain)
    that lack the same assets; the run materializes those assets over the dates' range."""

    domain: str
    symbol: str | None
    assets: tuple[dg.AssetKey, ...]
    days: tuple[date, ...]

    @property
    def partition_range(self) -> tuple[str, str]:
        first, last = self.days[0], self.days[-1]
        if self.symbol is None:
            return first.isoformat(), last.isoformat()
        return str(partition_key(first, self.symbol)), str(partition_key(last, self.symbol))

    def owed(self) -> list[Owed]:
        return [Owed(self.domain, a, d, self.symbol) for a in self.assets for d in self.days]

    @property
    def label(self) -> str:
        who = self.symbol or "SPX/SPXW"
        names = ", ".join(a.to_user_string() for a in self.assets)
        return f"{who} {self.days[0]}..{self.days[-1]} ({len(self.days)} days: {names})"


@dataclass
class FillSummary:
    """How a fill ended, in asset partitions: filled (materialized), failed, and skipped (not
    attempted: downstream of a failure, or left by a pause); its runs and their failures."""

    backfill_id: str
    status: str
    filled: int = 0
    failed: int = 0
    skipped: int = 0
    runs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    executed_by: str = "cli"


def owed_from_gaps(gaps: Iterable[Gap]) -> list[Owed]:
    """The gaps of a report as partitions to fill."""
    return [
        Owed(g.domain, dg.AssetKey.from_user_string(g.dataset), g.trade_date, g.symbol)
        for g in gaps
    ]


def plan_batches(owed: Iterable[Owed], batch: int, lineage: Sequence[dg.AssetKey]) -> list[Batch]:
    """Group owed partitions into runs of at most `batch` trade dates: per domain and symbol,
    consecutive owed dates (no owed session between them) that lack the same assets, so a run
    never redoes a partition that is already there. Newest batches first: recent data is the
    most wanted. `lineage` orders each batch's assets."""
    if batch < 1:
        raise InvalidInput(f"--batch {batch} must be at least 1 (trade dates per run)")
    rank = {k: i for i, k in enumerate(lineage)}
    lacking: dict[tuple[str, str | None], dict[date, set[dg.AssetKey]]] = {}
    for item in owed:
        by_day = lacking.setdefault((item.domain, item.symbol), {})
        by_day.setdefault(item.trade_date, set()).add(item.asset)
    batches = []
    for (domain, symbol), by_day in sorted(
        lacking.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
    ):
        run: list[date] = []
        assets: frozenset[dg.AssetKey] = frozenset()
        for day in sorted(by_day):
            these = frozenset(by_day[day])
            joins = (
                run
                and these == assets
                and len(run) < batch
                and not owed_days(domain, _next(run[-1]), _prev(day), _FAR_FUTURE, symbol)
            )
            if run and not joins:
                batches.append(_batch(domain, symbol, assets, run, rank))
                run = []
            run.append(day)
            assets = these
        if run:
            batches.append(_batch(domain, symbol, assets, run, rank))
    return sorted(batches, key=lambda b: b.days[-1], reverse=True)


def _next(day: date) -> date:
    return date.fromordinal(day.toordinal() + 1)


def _prev(day: date) -> date:
    return date.fromordinal(day.toordinal() - 1)


def _batch(
    domain: str,
    symbol: str | None,
    assets: frozenset[dg.AssetKey],
    days: list[date],
    rank: dict[dg.AssetKey, int],
) -> Batch:
    ordered = tuple(sorted(assets, key=lambda k: rank.get(k, len(rank))))
    return Batch(domain, symbol, ordered, tuple(days))


def lineage(settings: Settings) -> list[dg.AssetKey]:
    """Every gap-analysed asset key, futures then options, each in lineage order."""
    return [d.key for d in datasets(settings, ("futures", "options"))]


def asset_graph(instance: dg.DagsterInstance) -> BaseAssetGraph:
    """The deployed code location's asset graph (what the UI and the daemon see)."""
    from market_spine.runs.location import code_location

    [repo] = code_location(instance).get_repositories().values()
    return repo.asset_graph


def daemon_alive(instance: dg.DagsterInstance) -> bool:
    """True when the instance's backfill daemon is running (`runs.deployment`)."""
    return daemon_running(instance, "BACKFILL")


def submit(
    instance: dg.DagsterInstance,
    owed: Sequence[Owed],
    *,
    graph: BaseAssetGraph,
    executed_here: bool,
    title: str,
    tags: dict[str, str] | None = None,
) -> PartitionBackfill:
    """Add an asset backfill targeting `owed` to the instance. One this process executes is
    recorded with all of its target already requested, so a daemon that starts meanwhile only
    watches it instead of requesting the same partitions again."""
    if not owed:
        raise InvalidInput("nothing to fill: the range has no gaps")
    target = _subset(owed, graph)
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=make_new_backfill_id(),
        backfill_timestamp=time.time(),
        tags={**provenance.origin_tags("cli"), **(tags or {})},
        dynamic_partitions_store=instance,
        asset_graph_subset=target,
        title=title,
        description=f"{len(owed)} asset partitions found missing by `market-spine gaps`",
        run_config=None,
    )
    if executed_here:
        data = backfill.get_asset_backfill_data(graph)
        data = data._replace(requested_runs_for_target_roots=True, requested_subset=target)
        backfill = backfill.with_asset_backfill_data(data, instance, graph)
    instance.add_backfill(backfill)
    return backfill


def _subset(owed: Iterable[Owed], graph: BaseAssetGraph) -> AssetGraphSubset:
    return AssetGraphSubset.from_asset_partition_set(
        {AssetKeyPartitionKey(o.asset, o.key) for o in owed}, graph
    )


def execute(
    instance: dg.DagsterInstance,
    settings: Settings,
    backfill_id: str,
    batches: Sequence[Batch],
    *,
    graph: BaseAssetGraph,
    concurrency: int = 1,
    market: MarketDataResource | None = None,
    on_run: Callable[[Batch, str, bool, str | None], None] | None = None,
) -> FillSummary:
    """Execute a backfill's batches from this process, `concurrency` runs at a time (each in a
    process of its own when there are several), past failures; stop submitting once the
    backfill is paused and let the runs under way finish. On an interrupt the runs under way
    are canceled and the backfill with them (resume it to finish).
    `on_run(batch, run_id, success, cause)` follows each run."""
    from market_spine.runs.launch import create_run
    from market_spine.runs.launch import execute as execute_here
    from market_spine.runs.outcome import failure_cause
    from market_spine.runs.run_process import execute_in_own_process
    from market_spine.runs.workers import sweep_dead_runs

    if concurrency < 1:
        raise InvalidInput(f"--concurrency {concurrency} must be at least 1 (runs at once)")
    sweep_dead_runs(instance)
    # One run at a time executes here; several at once each take a process of their own.
    execute_run = execute_here if concurrency == 1 else execute_in_own_process
    pending = list(batches)
    running: dict[Future[object], tuple[Batch, dg.DagsterRun]] = {}
    runs: list[str] = []
    failures: list[str] = []
    paused = False
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fill") as pool:
        try:
            while pending or running:
                paused = paused or _is_paused(instance, backfill_id)
                while pending and not paused and len(running) < concurrency:
                    batch = pending.pop(0)
                    run = create_run(
                        settings,
                        batch.assets,
                        instance=instance,
                        partition_range=batch.partition_range,
                        market=market,
                        launched_from="backfill",
                        tags={BACKFILL_ID_TAG: backfill_id},
                    )
                    runs.append(run.run_id)
                    running[pool.submit(execute_run, instance, run)] = (batch, run)
                if not running:
                    break
                done, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    batch, run = running.pop(future)
                    ok = future.exception() is None and getattr(future.result(), "success", False)
                    cause = None if ok else failure_cause(instance, run.run_id)
                    if not ok:
                        failures.append(f"{batch.label}: run {run.run_id[:8]}: {cause}")
                    _record(instance, backfill_id, graph, batch, run.run_id)
                    if on_run:
                        on_run(batch, run.run_id, ok, cause)
        except KeyboardInterrupt:
            for _, run in running.values():
                current = instance.get_run_by_id(run.run_id) or run
                instance.report_run_canceled(current, message="the fill was interrupted")
                instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            _finish(instance, backfill_id, BulkActionStatus.CANCELED)
            raise
    status = _final_status(paused, failures)
    _finish(instance, backfill_id, status)
    return _summary(instance, backfill_id, graph, status, runs, failures, "cli")


def _is_paused(instance: dg.DagsterInstance, backfill_id: str) -> bool:
    backfill = instance.get_backfill(backfill_id)
    return backfill is None or backfill.status in (
        BulkActionStatus.CANCELING,
        BulkActionStatus.CANCELED,
    )


def _final_status(paused: bool, failures: list[str]) -> BulkActionStatus:
    if paused:
        return BulkActionStatus.CANCELED
    return BulkActionStatus.COMPLETED_FAILED if failures else BulkActionStatus.COMPLETED_SUCCESS


def _record(
    instance: dg.DagsterInstance,
    backfill_id: str,
    graph: BaseAssetGraph,
    batch: Batch,
    run_id: str,
) -> None:
    """Mark the batch's partitions materialized or failed in the backfill, from the run's own
    materializations, so the UI's backfill page counts them."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    made = {
        AssetKeyPartitionKey(m.asset_key, m.partition)
        for r in records
        if (m := r.asset_materialization) is not None
    }
    planned = {AssetKeyPartitionKey(o.asset, o.key) for o in batch.owed()}
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        return
    data = backfill.get_asset_backfill_data(graph)
    done = AssetGraphSubset.from_asset_partition_set(planned & made, graph)
    lost = AssetGraphSubset.from_asset_partition_set(planned - made, graph)
    data = data._replace(
        materialized_subset=data.materialized_subset | done,
        failed_and_downstream_subset=data.failed_and_downstream_subset | lost,
    )
    instance.update_backfill(backfill.with_asset_backfill_data(data, instance, graph))


def _finish(instance: dg.DagsterInstance, backfill_id: str, status: BulkActionStatus) -> None:
    backfill = instance.get_backfill(backfill_id)
    if backfill is not None:
        instance.update_backfill(backfill.with_status(status).with_end_timestamp(time.time()))


def _summary(
    instance: dg.DagsterInstance,
    backfill_id: str,
    graph: BaseAssetGraph,
    status: BulkActionStatus,
    runs: list[str],
    failures: list[str],
    executed_by: str,
) -> FillSummary:
    """Count the backfill's target by each partition's status now."""
    summary = FillSummary(backfill_id, status.value, runs=runs, failures=failures)
    summary.executed_by = executed_by
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        return summary
    target = backfill.get_asset_backfill_data(graph).target_subset
    for key, statuses in _statuses(instance, graph, target).items():
        del key
        for status_now in statuses.values():
            if status_now == AssetPartitionStatus.MATERIALIZED:
                summary.filled += 1
            elif status_now == AssetPartitionStatus.FAILED:
                summary.failed += 1
            else:
                summary.skipped += 1
    return summary


def _statuses(
    instance: dg.DagsterInstance, graph: BaseAssetGraph, subset: AssetGraphSubset
) -> dict[dg.AssetKey, dict[str, AssetPartitionStatus | None]]:
    """Each asset partition of `subset` with its status in the instance."""
    keys: dict[dg.AssetKey, list[str]] = {}
    for item in subset.iterate_asset_partitions():
        if item.partition_key is not None:
            keys.setdefault(item.asset_key, []).append(item.partition_key)
    out = {}
    for asset, partitions in keys.items():
        partitions_def = graph.get(asset).partitions_def
        assert partitions_def is not None
        found = instance.get_status_by_partition(asset, partitions, partitions_def) or {}
        out[asset] = {p: found.get(p) for p in partitions}
    return out


def await_daemon(
    instance: dg.DagsterInstance,
    backfill_id: str,
    graph: BaseAssetGraph,
    *,
    poll_s: float = POLL_S,
    timeout_s: float | None = None,
) -> FillSummary:
    """Wait for the daemon to finish a backfill (or `timeout_s`), then count its target."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        backfill = instance.get_backfill(backfill_id)
        if backfill is None or backfill.status in BULK_ACTION_TERMINAL_STATUSES:
            break
        if deadline is not None and time.monotonic() > deadline:
            break
        time.sleep(poll_s)
    status = backfill.status if backfill is not None else BulkActionStatus.FAILED
    records = instance.get_run_records(dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
    runs = [r.dagster_run.run_id for r in records]
    failed = [
        r.dagster_run.run_id for r in records if r.dagster_run.status == dg.DagsterRunStatus.FAILURE
    ]
    return _summary(
        instance,
        backfill_id,
        graph,
        status,
        runs,
        [f"run {f[:8]} failed" for f in failed],
        "daemon",
    )


def pause(instance: dg.DagsterInstance, backfill_id: str) -> BulkActionStatus:
    """Pause a running backfill: cancel its queued runs, let the runs under way finish (their
    partitions are kept), and cancel the backfill. CANCELING while runs are under way (their
    executor, this CLI or the daemon, ends it), else CANCELED. InvalidInput if it is not
    running."""
    from market_spine.runs.workers import sweep_dead_runs

    backfill = _backfill(instance, backfill_id)
    if backfill.status != BulkActionStatus.REQUESTED:
        raise InvalidInput(
            f"backfill {backfill_id} is {backfill.status.value.lower()}, not running: only a "
            "running backfill can be paused"
        )
    sweep_dead_runs(instance)
    tag = {BACKFILL_ID_TAG: backfill_id}
    queued = instance.get_run_records(
        dg.RunsFilter(tags=tag, statuses=[dg.DagsterRunStatus.QUEUED])
    )
    for record in queued:
        instance.run_coordinator.cancel_run(record.dagster_run.run_id)
    active = instance.get_run_records(
        dg.RunsFilter(
            tags=tag,
            statuses=[
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        )
    )
    status = BulkActionStatus.CANCELING if active else BulkActionStatus.CANCELED
    backfill = _backfill(instance, backfill_id)
    updated = backfill.with_status(status)
    if status == BulkActionStatus.CANCELED:
        updated = updated.with_end_timestamp(time.time())
    instance.update_backfill(updated)
    return status


def remaining(
    instance: dg.DagsterInstance, backfill_id: str, graph: BaseAssetGraph, settings: Settings
) -> list[Owed]:
    """What a paused backfill still owes: its target less what is materialized now. InvalidInput
    if it is still running or unknown."""
    backfill = _backfill(instance, backfill_id)
    if backfill.status in (BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING):
        raise InvalidInput(
            f"backfill {backfill_id} is still {backfill.status.value.lower()}: pause it and "
            "wait for its runs to end before resuming"
        )
    if not backfill.is_asset_backfill:
        raise InvalidInput(f"backfill {backfill_id} is a job backfill, not a gap fill")
    domain_of = {d.key: d.domain for d in datasets(settings, ("futures", "options"))}
    target = backfill.get_asset_backfill_data(graph).target_subset
    owed = []
    for asset, statuses in _statuses(instance, graph, target).items():
        for key, status in statuses.items():
            if status == AssetPartitionStatus.MATERIALIZED or asset not in domain_of:
                continue
            day, _, symbol = key.partition("|")
            owed.append(Owed(domain_of[asset], asset, date.fromisoformat(day), symbol or None))
    return owed


def _backfill(instance: dg.DagsterInstance, backfill_id: str) -> PartitionBackfill:
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        raise InvalidInput(
            f"no backfill {backfill_id!r} in this home's instance: copy its id from "
            "`market-spine gaps --fill` or the Dagster UI's backfills page"
        )
    return backfill


def fill(
    instance: dg.DagsterInstance,
    settings: Settings,
    owed: Sequence[Owed],
    *,
    batch: int,
    concurrency: int,
    market: MarketDataResource | None = None,
    on_submitted: Callable[[PartitionBackfill, list[Batch] | None], None] | None = None,
    on_run: Callable[[Batch, str, bool, str | None], None] | None = None,
    title: str = "gap fill",
    tags: dict[str, str] | None = None,
    use_daemon: bool | None = None,
) -> FillSummary:
    """Submit one backfill of `owed` and see it through: the daemon executes it when it is
    alive (`use_daemon` None decides by its heartbeat), else this process does, in batches of
    `batch` trade dates, `concurrency` runs at once. `on_submitted(backfill, batches)` is
    called once it is in the instance (batches None when the daemon plans the runs)."""
    batches = plan_batches(owed, batch, lineage(settings))
    if concurrency < 1:
        raise InvalidInput(f"--concurrency {concurrency} must be at least 1 (runs at once)")
    graph = asset_graph(instance)
    daemon = daemon_alive(instance) if use_daemon is None else use_daemon
    backfill = submit(instance, owed, graph=graph, executed_here=not daemon, title=title, tags=tags)
    if on_submitted:
        on_submitted(backfill, None if daemon else batches)
    if daemon:
        return await_daemon(instance, backfill.backfill_id, graph)
    return execute(
        instance,
        settings,
        backfill.backfill_id,
        batches,
        graph=graph,
        concurrency=concurrency,
        market=market,
        on_run=on_run,
    )


def resume(
    instance: dg.DagsterInstance,
    settings: Settings,
    backfill_id: str,
    **fill_options: object,
) -> FillSummary | None:
    """Continue a paused backfill as a new backfill of what it still owes (tagged RESUMES with
    the paused one's id), so completed partitions are not redone; None when nothing remains.
    `fill_options` are `fill`'s."""
    owed = remaining(instance, backfill_id, asset_graph(instance), settings)
    if not owed:
        return None
    return fill(
        instance,
        settings,
        owed,
        title=f"resume of {backfill_id}",
        tags={RESUMES: backfill_id},
        **fill_options,  # type: ignore[arg-type]
    )
