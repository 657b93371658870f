"""Launch runs of the deployed code location from Python (the CLI, `make run`, tests): each run is
created from the code location workspace.yaml names, as the UI would create it, executed in this
process and waited for. So a CLI run has a remote origin: the UI re-executes it ("from failure"
too), the daemon retries it, and both use the provider settings recorded in its config."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.api import execute_run
from dagster._core.origin import JobPythonOrigin
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._core.utils import make_new_run_id
from dagster._utils.hosted_user_process import recon_job_from_origin

from market_spine.audit import changes as audit_changes
from market_spine.catalog.dagster_metadata import SESSIONS_PER_RUN
from market_spine.errors import InvalidInput, InvalidRange, NotATradingDay
from market_spine.futures import keys as futures_keys
from market_spine.futures.capture_guard import REPLACE_TAG, refuse_conflicts
from market_spine.futures.partitions import FIRST_TRADE_DATE, partition_key
from market_spine.lake.resource import LakeResource
from market_spine.markets import calendars
from market_spine.markets.dates import in_order
from market_spine.markets.instruments import get_instrument
from market_spine.providers.resource import MarketDataResource
from market_spine.runs import outcome, provenance
from market_spine.runs.deployment import daemon_running
from market_spine.runs.instance_writes import prepare_event_writes
from market_spine.runs.location import (
    code_location,
    definitions_for_this_environment,
    execution_plan,
    location_job,
)
from market_spine.runs.workers import Worker, sweep_dead_runs
from market_spine.settings import Settings

if TYPE_CHECKING:
    from market_spine.company.config import DatasetConfig
    from market_spine.lake.store import Lake


@dataclass(frozen=True)
class RunSummary:
    """One Dagster run of a symbol's date range."""

    symbol: str
    start: date
    end: date
    run_id: str
    success: bool
    failed_checks: tuple[str, ...]
    failure: str | None = None
    #: What the run's assets said beside their rows, e.g. rows a capture left out and why.
    notes: tuple[str, ...] = ()
    #: The failed checks of `warn` severity (in `failed_checks` too): reported, not blocking.
    warned_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class LaunchedRun:
    """A finished run: its id, whether it succeeded, the checks it failed, and why it failed
    (one line: the first failed step and its root cause)."""

    run_id: str
    success: bool
    failed_checks: tuple[str, ...]
    failure: str | None
    #: The failed checks of `warn` severity (in `failed_checks` too).
    warned_checks: tuple[str, ...] = ()


def launch(
    settings: Settings,
    selection: Sequence[dg.AssetKey],
    *,
    instance: dg.DagsterInstance,
    **run_options: Any,
) -> LaunchedRun:
    """Materialize the selected assets (with their checks) as one run of the deployed code
    location and wait for it. `run_options` are `create_run`'s: the partition range (a
    single-run backfill), the market settings, where it was launched from, the log level.
    Runs left unfinished by a dead CLI process are failed first, so their pool slots cannot
    block this one."""
    sweep_dead_runs(instance)
    return execute(instance, create_run(settings, selection, instance=instance, **run_options))


def create_run(
    settings: Settings,
    selection: Sequence[dg.AssetKey],
    *,
    instance: dg.DagsterInstance,
    partition_range: tuple[str, str] | None = None,
    market: MarketDataResource | None = None,
    launched_from: str = "cli",
    log_level: str = "CRITICAL",
    tags: Mapping[str, str] | None = None,
    execution: str = "in_process",
) -> dg.DagsterRun:
    """The run `launch` executes, created in the instance (NOT_STARTED) with the code
    location's remote origin. Over `partition_range` (first and last partition key, a
    single-run backfill) when given. Its config carries the home's lake and warehouse and the
    market settings (`market`, else the home's); its tags say who launched it, from where
    (`launched_from`, one of provenance.ORIGINS) and with which providers (plus `tags`).
    `execution` is the executor's mode: `in_process` (every step in the run's process, as
    every run executes unless its config says otherwise) or `multiprocess` (a process per
    step).
    Creating a range run writes a planned event per asset partition: on PostgreSQL over held
    connections (`instance_writes`)."""
    prepare_event_writes(instance)
    market = market or MarketDataResource.from_settings(settings)
    location = code_location(instance)
    [repo] = location.get_repositories().values()
    job = location_job(location, IMPLICIT_ASSET_JOB_NAME, list(selection))
    [mode] = job.job_snapshot.mode_def_snaps
    required = {r.name for r in mode.resource_def_snaps}
    run_config = {
        # Steps run in the run's process: a subprocess per step costs seconds and buys nothing.
        "execution": {"config": {execution: {}}},
        "loggers": {"console": {"config": {"log_level": log_level}}},
        "resources": provenance.resources_config(settings, market, required),
    }
    run_id = make_new_run_id()
    tags = {
        **(tags or {}),
        **job.tags,
        **provenance.origin_tags(launched_from),
        **provenance.provider_tags(market),
        **Worker.this_process(run_id).tag(),
    }
    if partition_range is not None:
        tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG] = partition_range
    plan = execution_plan(location, job, run_config, instance)
    run = instance.create_run(
        job_name=job.name,
        run_id=run_id,
        run_config=run_config,
        resolved_op_selection=None,
        step_keys_to_execute=plan.step_keys_to_execute,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags=tags,
        job_snapshot=job.job_snapshot,
        execution_plan_snapshot=plan,
        parent_job_snapshot=job.parent_job_snapshot,
        remote_job_origin=job.get_remote_origin(),
        job_code_origin=job.get_python_origin(),
        asset_selection=frozenset(selection),
        asset_check_selection=None,
        asset_graph=repo.asset_graph,
    )
    audit_changes.run_launched(settings.home, run.run_id, run.tags, selection)
    return run


def execute(instance: dg.DagsterInstance, run: dg.DagsterRun) -> LaunchedRun:
    """Execute a created run (launched here, or a re-execution or retry of one) in this process,
    as the run launcher's worker would, and report how it ended. A QUEUED run (one the UI or the
    retry logic submitted) is taken off the queue here, as the queue daemon would."""
    prepare_event_writes(instance)
    instance.add_run_tags(run.run_id, Worker.this_process(run.run_id).tag())
    if run.status == dg.DagsterRunStatus.QUEUED:
        starting = DagsterEvent(
            event_type_value=DagsterEventType.PIPELINE_STARTING.value, job_name=run.job_name
        )
        instance.report_dagster_event(starting, run_id=run.run_id)
    run = instance.get_run_by_id(run.run_id) or run
    job_origin = run.job_code_origin
    if job_origin is None:
        raise ValueError(f"run {run.run_id} has no code origin to execute")
    _execute_interruptibly(instance, run, job_origin)
    return ended(instance, run.run_id)


#: Seconds between looks at a run the deployment's queue executes.
QUEUE_POLL_S = 1.0


def dispatch(instance: dg.DagsterInstance, run: dg.DagsterRun) -> LaunchedRun:
    """Execute a created run the way the deployment executes its runs, and report how it ended:
    while the deployment's run-queue daemon runs, submitted to the instance's run coordinator,
    so its queue limits, its launcher and its submission tags apply, as to the daemon's own
    retries and the UI's re-executions; without it, in this process (`execute`)."""
    if not daemon_running(instance, "QUEUED_RUN_COORDINATOR"):
        return execute(instance, run)
    instance.submit_run(run.run_id, workspace=None)  # type: ignore[arg-type]
    return wait_for(instance, run.run_id)


def wait_for(instance: dg.DagsterInstance, run_id: str) -> LaunchedRun:
    """Wait until a run another process executes has finished, and report how it ended."""
    while True:
        current = instance.get_run_by_id(run_id)
        if current is None or current.is_finished:
            return ended(instance, run_id)
        time.sleep(QUEUE_POLL_S)


def ended(instance: dg.DagsterInstance, run_id: str) -> LaunchedRun:
    """How an executed run ended, from the instance: success, failed checks, the cause."""
    finished = instance.get_run_by_id(run_id)
    success = finished is not None and finished.status == dg.DagsterRunStatus.SUCCESS
    failed, warned = outcome.checks_by_severity(instance, run_id)
    return LaunchedRun(
        run_id,
        success,
        failed,
        None if success else outcome.failure_cause(instance, run_id),
        warned,
    )


def _execute_interruptibly(
    instance: dg.DagsterInstance, run: dg.DagsterRun, job_origin: JobPythonOrigin
) -> None:
    """Execute on a worker thread so the main thread stays free for signals: Dagster defers an
    interrupt to the end of the running step, which can take minutes. On Ctrl-C or SIGTERM the
    run is marked canceled and its pool slots freed before the interrupt propagates (the caller
    exits; Delta commits are atomic, so an abandoned step leaves no partial table version).
    The run meters itself (its executor: `runs.metered_executor`)."""
    definitions_for_this_environment()
    worker = threading.Thread(
        target=execute_run,
        args=(recon_job_from_origin(job_origin), run, instance),
        name=f"run-{run.run_id[:8]}",
        daemon=True,
    )
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt as stop:
        current = instance.get_run_by_id(run.run_id) or run
        instance.report_run_canceled(
            current, message=f"stopped by {stop or 'an interrupt'}: re-execute it to finish"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        raise


def domain_assets(settings: Settings, domain: str) -> list[dg.AssetsDefinition]:
    """The assets a domain's Definitions declare, in lineage order."""
    from market_spine.definitions import DOMAINS

    return list(DOMAINS[domain].build_definitions(settings).assets or [])


def resources(settings: Settings, market: MarketDataResource | None = None) -> dict[str, object]:
    """The resources the futures assets need for a home."""
    return {
        "lake": LakeResource(root=settings.lake_location),
        "market": market or MarketDataResource.from_settings(settings),
    }


def plan(symbols: Sequence[str], start: date, end: date) -> dict[str, list[date]]:
    """Trading days per symbol in [start, end]; a range with none is a clear error."""
    in_order(start, end)
    first, last = date.fromisoformat(FIRST_TRADE_DATE), date.today() + timedelta(days=1)
    if start < first or end > last:
        raise InvalidRange(
            f"{start}..{end} is outside the partitions {first}..{last}: the history starts at "
            f"{first} and a session can be captured only once it has opened"
        )
    roots = [get_instrument(s).root for s in symbols]
    days = {root: calendars.trading_days(root, start, end) for root in roots}
    if not any(days.values()):
        raise NotATradingDay(
            f"no trading session for {', '.join(roots)} between {start} and {end}: "
            "pick dates on which the exchange is open (weekends and holidays have none)"
        )
    return days


def materialize_range(
    settings: Settings,
    symbols: Sequence[str],
    start: date,
    end: date,
    *,
    instance: dg.DagsterInstance,
    market: MarketDataResource | None = None,
    on_run: Callable[[RunSummary], None] | None = None,
    log_level: str = "CRITICAL",
    selection: Sequence[dg.AssetKey] | None = None,
    launched_from: str = "cli",
    days_per_run: int = SESSIONS_PER_RUN,
    replace: bool = False,
) -> list[RunSummary]:
    """Range runs through all futures assets and their checks: per symbol, its trading days in
    chunks of at most `days_per_run`, one run each (a failed run is retried for its chunk; the
    runs after it still run). Each run materializes and judges every partition of its range
    one by one. `selection` limits the runs to some assets (a file import skips the provider's
    raw asset). A root from the instruments file MARKET_SPINE_INSTRUMENTS names is first
    recorded in the home's own (`home.keep_instruments`), so its data stays readable without
    the variable. A `days_per_run` below 1 raises InvalidInput. A capture over sessions whose
    accepted bars came from another source (a vendor import) raises WouldReplace before any
    run, unless `replace`, which tags the runs to replace them."""
    from market_spine.home import keep_instruments

    if days_per_run < 1:
        raise InvalidInput(
            f"--days-per-run {days_per_run}: a run covers at least one trade date; give 1 or "
            f"more (default {SESSIONS_PER_RUN}, a quarter of sessions)"
        )
    keep_instruments(settings, [get_instrument(s).root for s in symbols])
    planned = plan(symbols, start, end)
    captures = selection is None or futures_keys.RAW_BARS in selection
    if captures and not replace:
        writer = (market or MarketDataResource.from_settings(settings)).provider
        for symbol, days in planned.items():
            refuse_conflicts(settings.lake(), symbol, days, writer)
    summaries = []
    for symbol, days in planned.items():
        for i in range(0, len(days), days_per_run):
            chunk = days[i : i + days_per_run]
            first, last = chunk[0], chunk[-1]
            keys = selection or [k for a in domain_assets(settings, "futures") for k in a.keys]
            run = launch(
                settings,
                keys,
                instance=instance,
                partition_range=(partition_key(first, symbol), partition_key(last, symbol)),
                market=market,
                launched_from=launched_from,
                log_level=log_level,
                tags={REPLACE_TAG: "true"} if replace else None,
            )
            summary = RunSummary(
                symbol, first, last, *_outcome(run), warned_checks=run.warned_checks
            )
            summaries.append(summary)
            if on_run:
                on_run(summary)
    return summaries


def materialize_options(
    settings: Settings,
    start: date,
    end: date,
    *,
    instance: dg.DagsterInstance,
    market: MarketDataResource | None = None,
    log_level: str = "CRITICAL",
) -> RunSummary | None:
    """One single-run backfill of the option assets over the trading days in [start, end]
    whose Cboe session has opened (a chain cannot be captured before its day)."""
    from market_spine.markets.expirations import is_trading_day, session_bounds
    from market_spine.options.partitions import FIRST_TRADE_DATE as FIRST_OPTION_DATE

    in_order(start, end)
    now = (market or MarketDataResource.from_settings(settings)).now()
    first = date.fromisoformat(FIRST_OPTION_DATE)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    days = [d for d in days if d >= first and is_trading_day(d)]
    opened = [d for d in days if (bounds := session_bounds(d)) is not None and bounds[0] <= now]
    if days and not opened:
        raise InvalidRange(
            f"{start}..{end}: no Cboe session in it has opened yet (now {now:%Y-%m-%d %H:%M} "
            "UTC); an option chain can be captured only once its day's session has opened"
        )
    days = opened
    if not days:
        return None
    run = launch(
        settings,
        [k for a in domain_assets(settings, "options") for k in a.keys],
        instance=instance,
        partition_range=(days[0].isoformat(), days[-1].isoformat()),
        market=market,
        log_level=log_level,
    )
    return RunSummary("SPX", days[0], days[-1], *_outcome(run), warned_checks=run.warned_checks)


def materialize_warehouse(
    settings: Settings,
    start: date | None = None,
    end: date | None = None,
    *,
    instance: dg.DagsterInstance,
    log_level: str = "CRITICAL",
) -> list[RunSummary]:
    """Bring the warehouse up to date in one run with one dbt invocation: collect the check
    results, then build only the stale models and minute-fact partitions (`warehouse.build`).
    The weekdays of [start, end], when given, are rebuilt in the minute fact whatever the
    records say. A build already queued or under way (the automation sensor's, reacting to the
    same new data) is waited for instead of built twice: a run follows only for what it left
    stale. Returns the summary of the run that brought the warehouse up to date."""
    from market_spine.warehouse.build import (
        active_build,
        fact_dates,
        minute_dates_built_by,
        plan_warehouse,
    )

    if start is not None and end is not None:
        in_order(start, end)
    days = []
    if start is not None and end is not None:
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    sweep_dead_runs(instance)
    queue_runs = daemon_running(instance, "QUEUED_RUN_COORDINATOR")
    pending = active_build(instance, settings, queue_runs=queue_runs)
    if pending is not None:
        joined = wait_for(instance, pending.run_id)
        if joined.success:
            days = sorted(set(days) - minute_dates_built_by(instance, joined.run_id))
            rest = plan_warehouse(instance, settings, also_dates=days, check_results_as_input=True)
            if not rest.models and not rest.minute_dates:
                return [_summary("the build already under way", joined, start, end)]
    plan = plan_warehouse(instance, settings, also_dates=days)
    run = launch(
        settings,
        plan.selection,
        instance=instance,
        partition_range=plan.partition_range,
        log_level=log_level,
    )
    # The dates the fact holds rows of once the run ends, not the window it swept.
    held = fact_dates(settings.home)
    covered = tuple(d for d in plan.minute_dates if d in held)
    return [
        _summary(
            plan.outcome(held),
            run,
            date.fromisoformat(covered[0]) if covered else start,
            date.fromisoformat(covered[-1]) if covered else end,
        )
    ]


def _summary(label: str, run: LaunchedRun, first: date | None, last: date | None) -> RunSummary:
    """A warehouse run's summary over its trade dates (today when it names none)."""
    today = date.today()
    return RunSummary(
        label,
        first or today,
        last or today,
        run.run_id,
        run.success,
        run.failed_checks,
        run.failure,
        warned_checks=run.warned_checks,
    )


def materialize_company(
    settings: Settings, *, instance: dg.DagsterInstance, log_level: str = "CRITICAL"
) -> list[RunSummary]:
    """Capture every company dataset's new source rows and rebuild its silver table, each
    dataset in runs of its own so one dataset's failure (a missing drop folder, a failing
    error-severity check) stops none of the others: per dataset, one run of its capture (and
    of its silver table when unpartitioned), then for a daily dataset whose capture succeeded
    one single-run backfill over the business dates its captures hold. One summary per run,
    labelled with the dataset's name (`<name> capture` for a daily dataset's capture)."""
    from market_spine.company.home_defs import all_configs
    from market_spine.company.tables import raw_table, silver_table

    declared = {k for a in domain_assets(settings, "company") for k in a.keys}
    lake = LakeResource(root=str(settings.lake_root)).lake
    today = date.today()
    runs: list[RunSummary] = []
    for config in all_configs(settings.home):
        raw, silver = (dg.AssetKey(t.split("/")) for t in (raw_table(config), silver_table(config)))
        if raw not in declared:
            continue
        daily = config.partitioning.kind == "daily"
        first = [raw] if daily else [raw, silver]
        run = launch(settings, first, instance=instance, log_level=log_level)
        label = f"{config.name} capture" if daily else config.name
        notes = capture_notes(instance, run.run_id, raw)
        runs.append(
            RunSummary(
                label, today, today, *_outcome(run), notes=notes, warned_checks=run.warned_checks
            )
        )
        if daily and run.success:
            runs += _company_days(settings, lake, config, silver, instance, log_level)
    return runs


def capture_notes(instance: dg.DagsterInstance, run_id: str, raw: dg.AssetKey) -> tuple[str, ...]:
    """What a company capture run said beside its counts (`LEFT_OUT`): rows it left out as
    already past the dataset's retention, so the command says so rather than "0 rows"."""
    from market_spine.company.assets import LEFT_OUT

    notes = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = record.asset_materialization
        if materialization is None or materialization.asset_key != raw:
            continue
        note = materialization.metadata.get(LEFT_OUT)
        if note is not None:
            notes.append(str(note.value))
    return tuple(notes)


def _company_days(
    settings: Settings,
    lake: Lake,
    config: DatasetConfig,
    silver: dg.AssetKey,
    instance: dg.DagsterInstance,
    log_level: str,
) -> list[RunSummary]:
    """One single-run backfill of a daily company dataset's silver table over the business
    dates its captures hold (none when it has no captures)."""
    from market_spine.company.tables import BUSINESS_DATE, raw_table

    if not lake.exists(raw_table(config)):
        return []
    dates = lake.read(raw_table(config), columns=[BUSINESS_DATE])[BUSINESS_DATE]
    if dates.is_empty():
        return []
    first, last = dates.min(), dates.max()
    span = (first.isoformat(), last.isoformat())  # type: ignore[union-attr]
    run = launch(settings, [silver], instance=instance, partition_range=span, log_level=log_level)
    summary = RunSummary(
        config.name,
        first,  # type: ignore[arg-type]
        last,  # type: ignore[arg-type]
        *_outcome(run),
        warned_checks=run.warned_checks,
    )
    return [summary]


def _outcome(run: LaunchedRun) -> tuple[str, bool, tuple[str, ...], str | None]:
    return run.run_id, run.success, run.failed_checks, run.failure
