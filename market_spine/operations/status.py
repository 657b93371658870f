"""The operator's morning check in one answer: is every part of the platform up, did anything
fail in the last day (and may it be retried), is any dataset stale, did a schedule miss a tick,
what is running, and which quality checks are failing.

Everything comes from cheap reads: the Dagster instance's daemon heartbeats, run records,
instigator ticks and the latest asset-check evaluations (freshness checks among them, so stale
datasets cost no lake read); short TCP or HTTP probes of the services and providers; the disk
and memory; and the light verify of the lake, warehouse and instance (footers, not data), run
beside the instance queries.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import psutil

from market_spine.check_kit import is_finding
from market_spine.operations.retry import plan_retry, settled, successes_since
from market_spine.operations.run_history import (
    ACTIVE,
    FAILED,
    cause_of,
    run_row,
)
from market_spine.operations.status_report import Health, StatusReport
from market_spine.runs.deployment import stopped_at
from market_spine.runs.outcome import failure_class, failure_damage, futile_retry
from market_spine.runs.workers import WORKER, Worker
from market_spine.settings import Settings

#: How far back failures are reported.
FAILURE_WINDOW = timedelta(hours=24)
#: A daemon whose newest heartbeat is older than this is down: four of its 30-second beats
#: missed (Dagster's own tolerance, 30 minutes, would leave a stopped daemon green that long).
HEARTBEAT_TOLERANCE = timedelta(seconds=120)
#: How long a probe of a service or provider may take before it counts as unreachable.
PROBE_TIMEOUT_S = 0.5
#: A schedule's tick is missed when it has not come this long after its cron time.
TICK_GRACE = timedelta(minutes=5)
#: Free disk under the home below either bound is red.
LOW_DISK_BYTES = 1 << 30
LOW_DISK_FRACTION = 0.05
#: Available memory below either bound is red.
LOW_MEMORY_BYTES = 256 << 20
LOW_MEMORY_FRACTION = 0.05


# -- services, providers, machine -------------------------------------------------------------


def probe_tcp(name: str, host: str, port: int) -> Health:
    """Whether `host:port` accepts a TCP connection within PROBE_TIMEOUT_S."""
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        return Health(name, False, f"{host}:{port} is unreachable ({exc.strerror or exc})")
    return Health(name, True, f"{host}:{port} accepts connections")


def probe_http(name: str, url: str, start_hint: str) -> Health:
    """Whether GET `url` answers 2xx within PROBE_TIMEOUT_S (over TLS for an `https` URL: a
    liveness probe of this home's own service, so its certificate is not checked against the
    address probed)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = (
        http.client.HTTPSConnection(
            host, port, timeout=PROBE_TIMEOUT_S, context=ssl._create_unverified_context()
        )
        if parts.scheme == "https"
        else http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT_S)
    )
    try:
        conn.request("GET", path or "/")
        status = conn.getresponse().status
    except OSError as exc:
        return Health(name, False, f"{url} does not answer ({exc.strerror or exc}): {start_hint}")
    finally:
        conn.close()
    if not 200 <= status < 300:
        return Health(name, False, f"{url} answered {status}")
    return Health(name, True, f"{url} answers")


def probe_providers(settings: Settings) -> list[Health]:
    """The futures source (IB Gateway's socket) and the options source (the ThetaTerminal's
    HTTP port), or "simulated", which needs no network."""
    found = []
    if settings.provider == "ib":
        found.append(probe_tcp("provider ib", settings.ib_host, settings.ib_port))
    else:
        found.append(Health(f"provider {settings.provider}", True, "simulated market"))
    if settings.options_provider == "thetadata":
        url = urlsplit(settings.thetadata_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        found.append(probe_tcp("provider thetadata", url.hostname or "127.0.0.1", port))
    else:
        found.append(Health(f"options {settings.options_provider}", True, "simulated chains"))
    return found


def home_disk(home: Path) -> tuple[Path, int, int]:
    """(the folder measured, free bytes, total bytes) of the file system holding the home (its
    nearest existing parent before it is created)."""
    where = home
    while not where.exists() and where != where.parent:
        where = where.parent
    usage = shutil.disk_usage(where)
    return where, usage.free, usage.total


def disk_health(home: Path) -> Health:
    """Free space on the file system holding the home."""
    where, free_bytes, total = home_disk(home)
    free = free_bytes / total if total else 0.0
    ok = free_bytes >= LOW_DISK_BYTES and free >= LOW_DISK_FRACTION
    return Health("disk", ok, f"{free_bytes / 2**30:.1f} GiB free ({free:.0%}) under {where}")


def memory_health() -> Health:
    """Memory available to new processes on this machine."""
    memory = psutil.virtual_memory()
    share = memory.available / memory.total
    ok = memory.available >= LOW_MEMORY_BYTES and share >= LOW_MEMORY_FRACTION
    return Health("memory", ok, f"{memory.available / 2**30:.1f} GiB available ({share:.0%})")


def integrity_health(settings: Settings) -> Health:
    """The light verify of the home (`market-spine verify`): logs, file sizes and footers of
    the lake, the warehouse file, the instance and ledger databases."""
    from market_spine.operations.home_verification import verify_home

    report = verify_home(settings)
    damaged = [f for f in report.findings if f.damage]
    if damaged:
        first = damaged[0]
        return Health(
            "integrity",
            False,
            f"{len(damaged)} damaged: {first.subject}: {first.problem} (repair: {first.repair}); "
            "`market-spine verify` lists them all",
        )
    return Health("integrity", True, f"{report.tables} tables, {report.files} files, no damage")


def daemon_health(
    instance: dg.DagsterInstance, now: datetime, stopped: datetime | None = None
) -> Health:
    """Every daemon the instance needs has a heartbeat younger than HEARTBEAT_TOLERANCE. When
    the services stopped cleanly at `stopped` (`runs.deployment`) and no daemon beat since, it is
    stopped, however young its last beats."""
    beats = instance.get_daemon_heartbeats()
    required = instance.get_required_daemon_types()
    if stopped is not None and all(b.timestamp <= stopped.timestamp() for b in beats.values()):
        ago = _age(now.timestamp() - stopped.timestamp())
        return Health(
            "daemon",
            False,
            f"stopped ({stopped:%Y-%m-%d %H:%M:%S} UTC, {ago} ago, a clean stop of "
            "`market-spine up`): start it with `market-spine up --days 0`",
        )
    late = []
    for kind in required:
        beat = beats.get(kind)
        age = None if beat is None else now.timestamp() - beat.timestamp
        if age is None or age > HEARTBEAT_TOLERANCE.total_seconds():
            late.append(f"{kind} ({'never' if age is None else f'{age:.0f} s ago'})")
    if late and len(late) == len(required):
        # Never started, or stopped: one sentence, not one per daemon thread.
        newest = max((beats[k].timestamp for k in required if k in beats), default=None)
        since = (
            "it has never run"
            if newest is None
            else f"its last heartbeat was {_age(now.timestamp() - newest)} ago"
        )
        return Health(
            "daemon", False, f"not running ({since}): start it with `market-spine up --days 0`"
        )
    if late:
        return Health(
            "daemon",
            False,
            f"no recent heartbeat from {', '.join(late)}: start it with `market-spine up --days 0`",
        )
    oldest = max(now.timestamp() - b.timestamp for b in beats.values()) if beats else 0.0
    return Health("daemon", True, f"{len(beats)} daemons beating, each within {oldest:.0f} s")


def _age(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h`, `2 days`."""
    if seconds < 300:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


# -- runs -------------------------------------------------------------------------------------


def recent_failures(instance: dg.DagsterInstance, now: datetime) -> list[dict[str, Any]]:
    """Runs that failed or were canceled in FAILURE_WINDOW and are still unrepaired (neither a
    later attempt nor a later run over the same partitions succeeded), newest first, each with
    its one-line cause and whether a retry is allowed now. A failure whose retry is queued or
    running stays listed (`retry` says so) until that attempt succeeds; a run over no partition
    that a clean stop of the services canceled is not a failure."""
    records = instance.get_run_records(
        dg.RunsFilter(statuses=list(FAILED), created_after=now - FAILURE_WINDOW)
    )
    if not records:
        return []
    oldest = min(r.create_timestamp for r in records)
    later_ok = successes_since(instance, oldest)
    seen_roots: set[str] = set()
    found = []
    for record in records:  # newest first: the newest attempt of each group speaks for it
        run = record.dagster_run
        root = run.root_run_id or run.run_id
        if root in seen_roots:
            continue
        seen_roots.add(root)
        if settled(instance, record, later_ok):
            continue
        plan = plan_retry(instance, run.run_id)
        if plan.verdict == "repaired":
            continue
        row = run_row(instance, record, metrics=False)
        safe, reason = retry_verdict(plan.ok, plan.reason, failure_class(instance, run.run_id))
        damage = failure_damage(instance, run.run_id)
        if damage is not None:
            safe, reason = False, f"a retry reads the same damaged data; repair it first: {damage}"
        found.append(
            {
                "run_id": run.run_id,
                "status": run.status.value,
                "created": row.created.isoformat(),
                "partitions": None if row.span is None else row.span.label,
                "datasets": list(row.datasets) or [run.job_name],
                "cause": cause_of(instance, run),
                "retry_safe": safe,
                "retry": plan.verdict,
                "retry_reason": reason,
                "damage": damage,
            }
        )
    return found


def damage_seen(health: list[Health], failures: list[dict[str, Any]]) -> list[Health]:
    """`health` with the integrity line failed when a recent run failed on damaged lake data:
    the light verify sees sizes and footers only, a flipped bit shows when a step reads it, so
    "no damage" there would contradict the failure that names it."""
    damage = next((f["damage"] for f in failures if f.get("damage")), None)
    if damage is None:
        return health
    seen = Health(
        "integrity",
        False,
        f"a run failed on damage: {damage}; `market-spine verify --deep` lists every damaged file",
    )
    kept = [h for h in health if h.name != "integrity" or not h.ok]
    return kept if any(h.name == "integrity" for h in kept) else [*kept, seen]


def retry_verdict(plan_ok: bool, plan_reason: str, cls_name: str | None) -> tuple[bool, str]:
    """Whether retrying a failed run is safe, and why: the retry plan allows it now and the
    error behind the failure is not one that only a fix removes (a wrong URL's 404, a wrong
    host's 476, a missing subscription, a failed data-quality check), which would fail the
    same way again."""
    # The provider errors register their classes when imported.
    import market_spine.providers.thetadata.errors  # noqa: F401

    futile = futile_retry(cls_name)
    if plan_ok and futile is not None:
        return False, futile
    return plan_ok, plan_reason


def active_runs(instance: dg.DagsterInstance) -> list[dict[str, Any]]:
    """Queued and running runs; `orphaned` when the CLI process executing one is gone (the next
    launch, or the run monitor, fails it)."""
    found = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=list(ACTIVE))):
        run = record.dagster_run
        row = run_row(instance, record, metrics=False)
        worker = Worker.parse(run.tags.get(WORKER, ""))
        found.append(
            {
                "run_id": run.run_id,
                "status": run.status.value,
                "partitions": None if row.span is None else row.span.label,
                "datasets": list(row.datasets) or [run.job_name],
                "launched_from": row.launched_from,
                "running_s": None if row.duration_s is None else round(row.duration_s, 1),
                "orphaned": worker is not None and worker.run_id == run.run_id and worker.is_dead(),
            }
        )
    return found


# -- schedules --------------------------------------------------------------------------------


def missed_ticks(instance: dg.DagsterInstance, now: datetime) -> list[dict[str, Any]]:
    """Each running schedule whose latest owed tick (`schedule_ticks.judge`) was missed or
    failed. The instance stores each schedule's cron with its state; every schedule of the
    platform runs on UTC, the clock this reads them in."""
    from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType

    from market_spine.operations.schedule_ticks import judge

    running = {InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE}
    found = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE):
        cron = getattr(state.instigator_data, "cron_schedule", None)
        if state.status not in running or not cron:
            continue
        verdict = judge(instance, state, cron, "UTC", now, TICK_GRACE)
        if verdict is None or verdict.problem is None:
            continue
        problem = (
            "no tick: is the daemon running?"
            if verdict.problem == "missed"
            else f"tick failed: {verdict.error}"
        )
        found.append(
            {"schedule": state.instigator_name, "due": verdict.due_text, "problem": problem}
        )
    return found


# -- checks -----------------------------------------------------------------------------------


#: Execution statuses that carry a verdict. A PLANNED row waits for one (its run is queued or
#: running) or never gets one (its run was canceled or failed before the check ran): it must
#: not hide the verdict before it.
VERDICTS = ("SUCCEEDED", "FAILED")


def latest_check_executions(
    instance: dg.DagsterInstance, *, failed_only: bool = False
) -> list[tuple[Any, ...]]:
    """(asset key, check name, partition, execution status, evaluation timestamp, evaluation
    event) of every check's latest completed evaluation of each partition (or of the asset),
    only the failed ones when `failed_only`: one query of the instance's check executions
    table. Statuses are `SUCCEEDED` (passed) and `FAILED`; timestamps are Unix seconds. A
    re-check still waiting for its verdict is `pending_check_executions`."""
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable as t
    from sqlalchemy import func, select

    storage = instance.event_log_storage
    if not hasattr(storage, "index_connection"):
        return []
    latest = (
        select(func.max(t.c.id).label("id"))
        .where(t.c.execution_status.in_(VERDICTS))
        .group_by(t.c.asset_key, t.c.check_name, t.c.partition)
        .subquery()
    )
    query = select(
        t.c.asset_key,
        t.c.check_name,
        t.c.partition,
        t.c.execution_status,
        t.c.evaluation_event_timestamp,
        t.c.evaluation_event,
    ).select_from(t.join(latest, t.c.id == latest.c.id))
    if failed_only:
        query = query.where(t.c.execution_status == "FAILED")
    with storage.index_connection() as conn:  # type: ignore[attr-defined]
        return [tuple(row) for row in conn.execute(query).fetchall()]


#: What a pending re-check is waiting for, by the status of the run that planned it.
_PENDING = {dg.DagsterRunStatus.STARTED: "running", dg.DagsterRunStatus.CANCELING: "canceling"}


def pending_check_executions(
    instance: dg.DagsterInstance,
) -> dict[tuple[str, str, str | None], str]:
    """(asset key, check name, partition) -> `queued` or `running` (or `canceling`) for each
    check evaluation a queued or running run has planned and not yet judged: the re-check that
    will replace the latest verdict. Planned rows of runs that have ended are left out: their
    check never ran, and the verdict before them stands."""
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable as t
    from sqlalchemy import select

    storage = instance.event_log_storage
    if not hasattr(storage, "index_connection"):
        return {}
    runs = {
        r.dagster_run.run_id: _PENDING.get(r.dagster_run.status, "queued")
        for r in instance.get_run_records(dg.RunsFilter(statuses=list(ACTIVE)))
    }
    if not runs:
        return {}
    query = (
        select(t.c.asset_key, t.c.check_name, t.c.partition, t.c.run_id)
        .where(t.c.execution_status == "PLANNED")
        .where(t.c.run_id.in_(list(runs)))
        .order_by(t.c.id)
    )
    with storage.index_connection() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(query).fetchall()
    # A running run's re-check says more than a queued one's: it lands first.
    found: dict[tuple[str, str, str | None], str] = {}
    for asset_key, name, partition, run_id in rows:
        state = runs[run_id]
        if found.get((asset_key, name, partition)) != "running":
            found[(asset_key, name, partition)] = state
    return found


def recent_freshness_evaluations(
    instance: dg.DagsterInstance, limit: int = 100
) -> list[tuple[Any, ...]]:
    """(asset key, check name, evaluation timestamp, evaluation event) of the newest `limit`
    completed evaluations of freshness checks (the asset's: a run over partitions repeats its
    verdict on each one it planned), newest first. A run that loads partitions judges
    only its own symbols, so a symbol's latest verdict may be in an older evaluation than the
    latest."""
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable as t
    from sqlalchemy import or_, select

    storage = instance.event_log_storage
    if not hasattr(storage, "index_connection"):
        return []
    query = (
        select(t.c.asset_key, t.c.check_name, t.c.evaluation_event_timestamp, t.c.evaluation_event)
        .where(t.c.execution_status.in_(VERDICTS))
        .where(t.c.partition.is_(None))
        .where(
            or_(t.c.check_name == "freshness", t.c.check_name.like("%\\_freshness", escape="\\"))
        )
        .order_by(t.c.id.desc())
        .limit(limit)
    )
    with storage.index_connection() as conn:  # type: ignore[attr-defined]
        return [tuple(row) for row in conn.execute(query).fetchall()]


def check_evaluation(serialized: str | None) -> Any:
    """The AssetCheckEvaluation a stored evaluation event carries; None without one."""
    from dagster._core.events.log import EventLogEntry
    from dagster._serdes import deserialize_value

    if not serialized:
        return None
    entry = deserialize_value(serialized, EventLogEntry)
    event = entry.dagster_event
    return None if event is None else event.event_specific_data


def is_freshness(check_name: str) -> bool:
    """Freshness checks are named `freshness` or `<what>_freshness` (futures bars, chains)."""
    return check_name == "freshness" or check_name.endswith("_freshness")


def checks_failing(instance: dg.DagsterInstance) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Stale datasets (failed freshness checks, with each stale symbol's lag in minutes of
    open-market time) and the other open findings, counted by severity and check. A failed
    verdict stands until a later evaluation completes; a re-check a queued or running run has
    planned is shown beside it (`rechecks`: partition -> queued | running)."""
    stale: list[dict[str, Any]] = []
    by_check: dict[tuple[str, str], dict[str, Any]] = {}
    by_severity = {"ERROR": 0, "WARN": 0}
    pending = pending_check_executions(instance)
    for asset_key, name, partition, _, _, serialized in latest_check_executions(
        instance, failed_only=True
    ):
        if not is_finding(name):
            continue
        if is_freshness(name) and partition is not None:
            # A run over partitions gives each one it planned the asset's verdict too: the
            # asset's own (partition-less) evaluation speaks for the dataset.
            continue
        recheck = pending.get((asset_key, name, partition))
        evaluation = check_evaluation(serialized)
        dataset = dg.AssetKey.from_db_string(asset_key)
        dataset_name = dataset.to_user_string() if dataset else str(asset_key)
        severity = getattr(getattr(evaluation, "severity", None), "value", "ERROR")
        metadata = getattr(evaluation, "metadata", {}) or {}
        if is_freshness(name):
            lags = getattr(metadata.get("lag_minutes"), "value", None) or {}
            stale_names = str(getattr(metadata.get(_stale_key(metadata)), "value", "") or "")
            named = [s.strip() for s in stale_names.split(",") if s.strip()]
            stale.append(
                {
                    "dataset": dataset_name,
                    "check": name,
                    "severity": severity,
                    "lag_minutes": {k: v for k, v in lags.items() if not named or k in named},
                    "recheck": recheck,
                }
            )
            continue
        by_severity[severity] = by_severity.get(severity, 0) + 1
        entry = by_check.setdefault(
            (dataset_name, name),
            {
                "dataset": dataset_name,
                "check": name,
                "severity": severity,
                "blocking": bool(getattr(evaluation, "blocking", False)),
                "partitions": [],
                "rechecks": {},
            },
        )
        if severity == "ERROR":
            entry["severity"] = "ERROR"
        entry["partitions"].append(partition or "-")
        if recheck is not None:
            entry["rechecks"][partition or "-"] = recheck
    checks = sorted(by_check.values(), key=lambda c: (c["severity"] != "ERROR", c["dataset"]))
    for c in checks:
        c["count"] = len(c["partitions"])
        c["partitions"] = sorted(c["partitions"], reverse=True)[:5]
        c["rechecks"] = {p: c["rechecks"][p] for p in c["partitions"] if p in c["rechecks"]}
    return stale, {"by_severity": by_severity, "checks": checks}


def _stale_key(metadata: dict[str, Any]) -> str:
    for key in ("stale_symbols", "stale_roots"):
        if key in metadata:
            return key
    return "stale_symbols"


# -- all of it --------------------------------------------------------------------------------


def collect_status(
    settings: Settings,
    instance: dg.DagsterInstance | None,
    *,
    now: datetime | None = None,
    verify: bool = True,
) -> StatusReport:
    """The whole morning check of a home. Probes and the light verify run on threads while the
    instance is queried; a home without an instance yet is red on `instance`."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    report = StatusReport(generated_at=now)
    # The addresses `market-spine up` serves on and waits for (`Settings.*_local_url`).
    probes: list[Callable[[], Health | list[Health]]] = [
        lambda: probe_http(
            "webserver",
            f"{settings.ui_local_url}/server_info",
            "start it with `market-spine up --days 0`",
        ),
        lambda: probe_http(
            "api", f"{settings.api_local_url}/healthz", "start it with `market-spine api`"
        ),
        lambda: probe_providers(settings),
        lambda: disk_health(settings.home),
        memory_health,
    ]
    if verify:
        probes.append(lambda: integrity_health(settings))
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        pending: list[Future[Health | list[Health]]] = [pool.submit(p) for p in probes]
        if instance is None:
            report.health.append(
                Health(
                    "instance",
                    False,
                    "the home has no Dagster instance: run `market-spine up` to create it",
                )
            )
        else:
            stop = stopped_at(settings.dagster_home)
            report.health.append(daemon_health(instance, now, stopped=stop))
            report.failures = recent_failures(instance, now)
            report.active_runs = active_runs(instance)
            report.missed_ticks = missed_ticks(instance, now)
            report.stale, report.findings = checks_failing(instance)
        for future in pending:
            found = future.result()
            report.health += found if isinstance(found, list) else [found]
    report.health = damage_seen(report.health, report.failures)
    report.seconds = time.perf_counter() - started
    return report
