"""The run history an operator reads, from the home's Dagster instance: each run with what it ran
over (partitions, datasets), who launched it and from where, how long it took, the rows its
assets wrote and at what rate, the peak memory of the processes that ran it, and why it failed.

Rows come from the materializations' `rows` metadata; peak memory and bytes written from the
tags every run records as its steps end (`runs.meter`, `runs.metered_executor`); runs without
them (older, or still running) show none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from market_spine.errors import InvalidInput, NoSuchDate
from market_spine.runs import meter, outcome, provenance

Status = dg.DagsterRunStatus
#: Runs that are queued or executing: a partition in one of them must not be retried.
ACTIVE = (
    Status.QUEUED,
    Status.NOT_STARTED,
    Status.STARTING,
    Status.STARTED,
    Status.CANCELING,
)
#: Runs that ended without finishing their work.
FAILED = (Status.FAILURE, Status.CANCELED)
#: The error of a step whose blocking checks failed (the run fails with it).
CHECKS_STOPPED_THE_RUN = outcome.CHECKS_STOPPED_THE_RUN
#: Names an operator may type for `--status`, beside Dagster's own (failure, success, ...).
STATUS_ALIASES: dict[str, tuple[dg.DagsterRunStatus, ...]] = {
    "failed": (Status.FAILURE,),
    "running": (Status.STARTING, Status.STARTED, Status.CANCELING),
    "active": ACTIVE,
    "unfinished": FAILED,
}
_SINCE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None, option: str = "--since") -> datetime:
    """The instant `--since` names, UTC: an age (`30m`, `12h`, `1d`, `2w`) before `now`, or a
    date (`2024-03-04`, midnight UTC) or an ISO timestamp. Anything else raises InvalidInput
    naming `option` (the flag, or an API's query field)."""
    from market_spine.markets.dates import parse_point

    now = now or datetime.now(UTC)
    age = _SINCE.match(text)
    if age:
        try:
            return now - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
        except OverflowError:
            # An age reaching before year 1 names no instant.
            raise InvalidInput(
                f"{option} {text!r} reaches before any date: give a shorter age (30d, 2w) "
                "or a date (2024-03-04)"
            ) from None
    try:
        point = parse_point(text, option)
    except NoSuchDate:
        raise
    except InvalidInput:
        raise InvalidInput(
            f"{option} {text!r} is neither an age (30m, 12h, 1d, 2w) nor a date or timestamp "
            "(2024-03-04, 2024-03-04T14:30:00Z)"
        ) from None
    if isinstance(point, datetime):
        return point
    return datetime(point.year, point.month, point.day, tzinfo=UTC)


def parse_dataset(name: str) -> str:
    """`--dataset` as the catalog names it (`normalized/futures_bars_1m`, or a name without its
    layer, `futures_bars_1m`, that some dataset has); InvalidInput listing the catalog's datasets
    otherwise, so a typo is refused rather than answered with no runs."""
    from market_spine.catalog.registry import CATALOG

    wanted = name.strip().strip("/")
    names = CATALOG.names()
    if wanted in names or wanted in {n.rsplit("/", 1)[-1] for n in names}:
        return wanted
    raise InvalidInput(
        f"--dataset {name!r} is not a dataset of the catalog; pick one of {', '.join(names)}"
    )


def parse_symbol(symbol: str, futures_roots: Sequence[str]) -> str:
    """`--symbol` as a root, upper case: one of `futures_roots` (the home's) or an option root
    (SPX, SPXW); InvalidInput naming the known roots otherwise."""
    from market_spine.markets.expirations import ROOTS as OPTION_ROOTS

    root = symbol.strip().upper()
    if root in futures_roots or root in OPTION_ROOTS:
        return root
    raise InvalidInput(
        f"--symbol {symbol!r} is not a root of this home: futures roots "
        f"{', '.join(futures_roots)}; option roots {', '.join(OPTION_ROOTS)}"
    )


def parse_statuses(text: str) -> tuple[dg.DagsterRunStatus, ...]:
    """Comma-separated run statuses (`failure,canceled`; also `failed`, `running`, `active`,
    `unfinished`), case-insensitive; an unknown name raises InvalidInput listing the known."""
    found: list[dg.DagsterRunStatus] = []
    for name in (n.strip().lower() for n in text.split(",") if n.strip()):
        if name in STATUS_ALIASES:
            found += STATUS_ALIASES[name]
        elif name.upper() in Status.__members__:
            found.append(Status[name.upper()])
        else:
            known = sorted({s.value.lower() for s in Status} | set(STATUS_ALIASES))
            raise InvalidInput(f"--status {name!r} is not one of {', '.join(known)}")
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class PartitionSpan:
    """The partitions a run covers: trade dates `first`..`last` (ISO, or whatever the keys
    are) of one `symbol`, or of every symbol when None (date-only keys such as the options')."""

    first: str
    last: str
    symbol: str | None = None
    #: The symbols of the first and last key of a range whose ends differ in symbol (such a
    #: range covers several symbols: `symbol` is then None), for its label.
    ends: tuple[str, str] | None = field(default=None, compare=False)

    @classmethod
    def of_key(cls, first: str, last: str | None = None) -> PartitionSpan:
        """From partition keys `2024-03-05|CL` (date × symbol) or `2024-03-05`. A range from
        one symbol to another (`2024-03-05|CL`..`2024-03-05|NG`) covers the symbols between
        too, so it is taken for every symbol of its days."""
        last = last or first
        if "|" in first:
            (day, symbol), (last_day, last_symbol) = first.split("|", 1), last.split("|", 1)
            if last_symbol != symbol:
                return cls(day, last_day, None, (symbol, last_symbol))
            return cls(day, last_day, symbol)
        return cls(first, last)

    def overlaps(self, other: PartitionSpan) -> bool:
        """True when the two share a partition (a span without a symbol covers every symbol)."""
        same_symbol = self.symbol is None or other.symbol is None or self.symbol == other.symbol
        return same_symbol and self.first <= other.last and other.first <= self.last

    @property
    def label(self) -> str:
        """`2024-03-04..2024-03-08 CL`, `2024-03-05`, `2024-03-05 CL..NG`, ..."""
        days = self.first if self.first == self.last else f"{self.first}..{self.last}"
        if self.ends is not None:
            if self.first == self.last:
                return f"{days} {self.ends[0]}..{self.ends[1]}"
            return f"{self.first} {self.ends[0]}..{self.last} {self.ends[1]}"
        return f"{days} {self.symbol}" if self.symbol else days


def run_span(tags: Mapping[str, str]) -> PartitionSpan | None:
    """The partitions a run's tags name (one partition, or a single-run range); None for a run
    over no partition (an unpartitioned asset, a check job, a whole-asset run)."""
    start = tags.get(ASSET_PARTITION_RANGE_START_TAG)
    if start:
        return PartitionSpan.of_key(start, tags.get(ASSET_PARTITION_RANGE_END_TAG))
    key = tags.get(PARTITION_NAME_TAG)
    return PartitionSpan.of_key(key) if key else None


def run_datasets(run: dg.DagsterRun, instance: dg.DagsterInstance | None = None) -> tuple[str, ...]:
    """The datasets a run materializes or checks (asset keys as `layer/name`), sorted: its asset
    selection, else (given the `instance`) the assets its execution plan's steps output. A run
    of an asset job launched by a schedule or sensor selects nothing itself: its job does, and
    its plan says which."""
    keys = set(run.asset_selection or ())
    keys |= {check.asset_key for check in run.asset_check_selection or ()}
    if keys:
        return tuple(sorted(k.to_user_string() for k in keys))
    if instance is None or run.execution_plan_snapshot_id is None:
        return ()
    return _planned_datasets(instance, run.execution_plan_snapshot_id)


#: Datasets by execution plan snapshot id: an id is the hash of the plan, so it never changes
#: meaning, and every run of a job over the same selection shares one.
_PLANNED: dict[str, tuple[str, ...]] = {}


def _planned_datasets(instance: dg.DagsterInstance, snapshot_id: str) -> tuple[str, ...]:
    """The asset keys the steps of a stored execution plan output, as `layer/name`, sorted."""
    found = _PLANNED.get(snapshot_id)
    if found is not None:
        return found
    try:
        plan = instance.get_execution_plan_snapshot(snapshot_id)
    except Exception:  # an unreadable snapshot leaves the run without datasets, not the page
        return ()
    chosen = set(plan.step_keys_to_execute or ())
    keys = set()
    for step in plan.steps:
        if chosen and step.key not in chosen:
            continue
        for output in step.outputs:
            props = output.properties
            if props is None:
                continue
            key = props.asset_key or (props.asset_check_key and props.asset_check_key.asset_key)
            if key is not None:
                keys.add(key.to_user_string())
    found = tuple(sorted(keys))
    _PLANNED[snapshot_id] = found
    return found


@dataclass(frozen=True)
class RunRow:
    """One run as the history shows it. Times are UTC; sizes in MiB; None where the run did not
    record it (still running, or executed before runs metered themselves)."""

    run_id: str
    job: str
    status: str
    created: datetime
    started: datetime | None
    ended: datetime | None
    span: PartitionSpan | None
    datasets: tuple[str, ...]
    launched_by: str | None
    launched_from: str | None
    parent_run_id: str | None
    root_run_id: str | None
    rows: int | None = None
    peak_memory_mb: float | None = None
    written_mb: float | None = None
    cause: str | None = None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end (to now while it runs), never negative; None before it
        started. A run failed before its worker reported it started (a start timeout) holds an
        end older than its start: while it runs, that end is not its own."""
        if self.started is None:
            return None
        finished = self.status in ("SUCCESS", "FAILURE", "CANCELED")
        end = self.ended if finished and self.ended is not None else datetime.now(UTC)
        return max(0.0, (end - self.started).total_seconds())

    @property
    def rows_per_s(self) -> float | None:
        """Rows written per second of the run."""
        if self.rows is None or not self.duration_s:
            return None
        return self.rows / self.duration_s

    @property
    def mb_per_s(self) -> float | None:
        """MiB written per second of the run."""
        if self.written_mb is None or not self.duration_s:
            return None
        return self.written_mb / self.duration_s

    def as_json(self) -> dict[str, Any]:
        """Plain data: ISO times, the span as its parts and label, the rates."""
        out = asdict(self)
        for name in ("created", "started", "ended"):
            value = getattr(self, name)
            out[name] = None if value is None else value.isoformat()
        out["partitions"] = None if self.span is None else self.span.label
        out["datasets"] = list(self.datasets)
        for name in ("duration_s", "rows_per_s", "mb_per_s"):
            value = getattr(self, name)
            out[name] = None if value is None else round(value, 3)
        return out


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def rows_written(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The sum of the `rows` metadata of the run's materializations; None when none had any."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    total, seen = 0, False
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.step_materialization_data if event is not None else None
        value = data.materialization.metadata.get("rows") if data is not None else None
        if value is not None and isinstance(value.value, int):
            total += value.value
            seen = True
    return total if seen else None


def cause_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """Why an unfinished run ended: its first failed step's root cause, or the reason it was
    canceled; None for a run that did not fail."""
    if run.status not in FAILED:
        return None
    cause = outcome.failure_cause(instance, run.run_id)
    if cause is None and run.status == Status.CANCELED:
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_CANCELED):
            cause = " ".join((record.message or "").split()) or "canceled"
    return cause


def run_row(instance: dg.DagsterInstance, record: Any, *, metrics: bool = True) -> RunRow:
    """A run record as a history row; `metrics` also reads its rows and cause (two queries)."""
    run: dg.DagsterRun = record.dagster_run
    tags = run.tags
    peak, written = meter.measured(tags, run.run_id)
    return RunRow(
        run_id=run.run_id,
        job=run.job_name,
        status=run.status.value,
        created=record.create_timestamp.astimezone(UTC),
        started=_utc(record.start_time),
        ended=_utc(record.end_time),
        span=run_span(tags),
        datasets=run_datasets(run, instance),
        launched_by=tags.get(provenance.LAUNCHED_BY),
        launched_from=tags.get(provenance.LAUNCHED_FROM),
        parent_run_id=run.parent_run_id,
        root_run_id=run.root_run_id,
        rows=rows_written(instance, run.run_id) if metrics else None,
        peak_memory_mb=peak,
        written_mb=written,
        cause=cause_of(instance, run) if metrics else None,
    )


def _matches(
    instance: dg.DagsterInstance, run: dg.DagsterRun, dataset: str | None, symbol: str | None
) -> bool:
    if dataset is not None:
        names = run_datasets(run, instance)
        if dataset not in names and dataset not in {n.rsplit("/", 1)[-1] for n in names}:
            return False
    if symbol is not None:
        span = run_span(run.tags)
        if span is None:
            return False
        if symbol.upper() in _option_roots():
            # An option chain's partition is a trade date holding both roots' options.
            return span.symbol is None and any(
                n in _option_datasets() for n in run_datasets(run, instance)
            )
        if span.symbol != symbol.upper():
            return False
    return True


@cache
def _option_roots() -> tuple[str, ...]:
    """SPX, SPXW: read when first asked, as the calendars they come with are heavy to load."""
    from market_spine.markets.expirations import ROOTS

    return ROOTS


@cache
def _option_datasets() -> frozenset[str]:
    """The option chain's datasets: the runs an option root (SPX, SPXW) names. Read when first
    asked: their schemas import polars, which a plain `runs` never needs."""
    from market_spine.options.catalog import OPTIONS_DATASETS

    return frozenset(spec.name for spec in OPTIONS_DATASETS)


def find_runs(
    instance: dg.DagsterInstance,
    *,
    since: datetime | None = None,
    statuses: Sequence[dg.DagsterRunStatus] = (),
    dataset: str | None = None,
    symbol: str | None = None,
    limit: int = 50,
) -> list[RunRow]:
    """The newest `limit` runs created since `since` with one of `statuses` (any when empty)
    that touch `dataset` (`normalized/futures_bars_1m`, or just `futures_bars_1m`) and cover
    partitions of `symbol`. Status and time filter in the instance; dataset and symbol here,
    page by page, so a year of history is read only as far as the answer needs."""
    filters = dg.RunsFilter(statuses=list(statuses) or None, created_after=since)
    found: list[RunRow] = []
    cursor = None
    page = max(limit, 100)
    while len(found) < limit:
        records = instance.get_run_records(filters, limit=page, cursor=cursor)
        for record in records:
            if _matches(instance, record.dagster_run, dataset, symbol):
                found.append(run_row(instance, record))
                if len(found) == limit:
                    break
        if len(records) < page:
            break
        cursor = records[-1].dagster_run.run_id
    return found


@dataclass(frozen=True)
class RunDetail:
    """One run in full: its row, its parameters (tags without Dagster's bookkeeping, the
    provider settings from its config), its failed checks, and every attempt of its group
    (the original run and its re-executions, oldest first)."""

    row: RunRow
    tags: dict[str, str]
    failed_checks: tuple[str, ...]
    attempts: list[RunRow] = field(default_factory=list)
    #: The failed checks of `warn` severity (in `failed_checks` too): findings, not failures.
    warned_checks: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """Plain data, the attempts as rows."""
        return {
            **self.row.as_json(),
            "tags": self.tags,
            "failed_checks": list(self.failed_checks),
            "warned_checks": list(self.warned_checks),
            "attempts": [a.as_json() for a in self.attempts],
        }


def resolve_run(instance: dg.DagsterInstance, run_id: str) -> Any:
    """The run record of a full run id or of a unique prefix of one (the 8 characters the
    console shows); InvalidInput when none or several match."""
    record = instance.get_run_record_by_id(run_id) if len(run_id) == 36 else None
    if record is not None:
        return record
    if len(run_id) < 4:
        raise InvalidInput(f"run id {run_id!r} is too short: give at least 4 characters")
    matches = [r for r in instance.get_run_ids() if r.startswith(run_id)]
    if len(matches) != 1:
        raise InvalidInput(
            f"no run has the id {run_id!r}: see `market-spine runs`"
            if not matches
            else f"{len(matches)} runs start with {run_id!r}: give more of the id"
        )
    return instance.get_run_record_by_id(matches[0])


def run_detail(instance: dg.DagsterInstance, run_id: str) -> RunDetail:
    """Everything `runs show` prints about one run (a full id or a unique prefix)."""
    record = resolve_run(instance, run_id)
    run: dg.DagsterRun = record.dagster_run
    group = instance.get_run_group(run.run_id)
    attempts = []
    if group is not None and len(group[1]) > 1:
        ids = [r.run_id for r in group[1]]
        records = instance.get_run_records(dg.RunsFilter(run_ids=ids))
        attempts = sorted((run_row(instance, r) for r in records), key=lambda r: r.created)
    shown = {k: v for k, v in run.tags.items() if not k.startswith(".dagster")}
    failed, warned = outcome.checks_by_severity(instance, run.run_id)
    return RunDetail(
        run_row(instance, record), dict(sorted(shown.items())), failed, attempts, warned
    )
