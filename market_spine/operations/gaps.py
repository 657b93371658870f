"""Gap analysis: the partitions the calendars say a dataset owes over a range and the Dagster
instance does not hold, split into never attempted and failed, newest first, with a time estimate
from the measured wall time of recent successful runs (`fill_estimate`).

Owed partitions come from the markets' calendars, never from the partitions definitions alone:
the futures date dimension excludes only weekends, so a CME holiday is a partition but not a gap.
Statuses come from the instance's asset status cache (the one the UI's partition bars read), one
look-up per dataset, so five years of every dataset answer in well under a second once it is warm.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from market_spine.errors import InvalidInput
from market_spine.futures.partitions import FIRST_TRADE_DATE as FIRST_FUTURES_DATE
from market_spine.futures.partitions import partition_key, partition_symbols
from market_spine.markets import calendars, expirations
from market_spine.markets.dates import in_order
from market_spine.markets.instruments import parse_root
from market_spine.operations.fill_estimate import (
    FillEstimate,
    RunQueue,
    RunTimes,
    estimate,
    measure,
    run_queue,
)
from market_spine.operations.gap_export import csv_of, json_of
from market_spine.options.partitions import FIRST_TRADE_DATE as FIRST_OPTIONS_DATE
from market_spine.settings import Settings

#: The partitioned domains gap analysis covers (the warehouse follows the lake on its own).
DOMAINS = ("futures", "options")
#: A gap's status: no run ever tried the partition, or the latest attempt failed.
NEVER, FAILED = "never", "failed"
#: Statuses of partitions that are not gaps: held, or being materialized now.
MATERIALIZED, IN_PROGRESS = "materialized", "in_progress"
#: A fill's default run size (trade dates per run) and runs at once, as `gaps --fill` has them.
DEFAULT_BATCH, DEFAULT_CONCURRENCY = 20, 2


@dataclass(frozen=True)
class Dataset:
    """One partitioned asset of a domain: `name` is its key as a path (`raw/futures_bars_1m`)."""

    domain: str
    key: dg.AssetKey
    partitions_def: dg.PartitionsDefinition

    @property
    def name(self) -> str:
        return self.key.to_user_string()


@dataclass(frozen=True)
class Gap:
    """A partition a dataset owes and lacks. `symbol` is the futures root (None for the option
    chain, which has one partition per Cboe session); `age_days` counts calendar days from the
    trade date to the report's date."""

    dataset: str
    domain: str
    trade_date: date
    symbol: str | None
    partition: str
    status: str
    age_days: int


@dataclass
class GapReport:
    """Gaps over [start, end], newest first, with what was owed, the domains' measured run
    times, and the run size (`batch` trade dates) and `concurrency` a fill would use."""

    start: date
    end: date
    domains: tuple[str, ...]
    symbols: tuple[str, ...]
    owed: int
    gaps: list[Gap]
    run_times: dict[str, RunTimes] = field(default_factory=dict)
    batch: int = DEFAULT_BATCH
    concurrency: int = DEFAULT_CONCURRENCY
    #: The UTC day the report was made: sessions after it are not owed yet.
    today: date | None = None
    #: The run queue a fill joins when the daemon executes it; None when this process would.
    queue: RunQueue | None = None

    def count(self, status: str) -> int:
        return sum(1 for g in self.gaps if g.status == status)

    def roots(self) -> tuple[str, ...]:
        """Every root the report covers: the futures roots, then the option roots (SPX, SPXW)
        when it covers options."""
        options = expirations.ROOTS if "options" in self.domains else ()
        return (*self.symbols, *options)

    def not_yet_open(self) -> str | None:
        """Why part of the range owes nothing yet, in a sentence: its dates are after the
        report's day (UTC), so no session of them has opened; None when none are."""
        if self.today is None or self.end <= self.today:
            return None
        if self.start > self.today:
            return (
                f"{self.start}..{self.end} is in the future (today is {self.today} UTC): "
                "a session is owed once it opens"
            )
        return f"sessions after {self.today} (today, UTC) are not owed until they open"

    def units(self) -> dict[str, int]:
        """Per domain, the (trade date, symbol) partitions a fill must run: a run materializes
        every selected asset of one partition together."""
        seen = {(g.domain, g.trade_date, g.symbol) for g in self.gaps}
        return {d: sum(1 for u in seen if u[0] == d) for d in self.domains}

    def estimate(self) -> FillEstimate:
        """The wall time of a fill of every gap: the runs `gap_fill` would plan (runs of at
        most `batch` consecutive trade dates per symbol), `concurrency` at once, each at its
        domain's measured run time."""
        from market_spine.operations.gap_fill import owed_from_gaps, plan_batches

        planned = plan_batches(owed_from_gaps(self.gaps), self.batch, [])
        return estimate(planned, self.run_times, self.concurrency, self.queue)

    def estimate_seconds(self) -> float | None:
        """`estimate()` in seconds; None if a domain with gaps has no run to measure by."""
        return self.estimate().seconds

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready values (dates as ISO strings)."""
        fill = self.estimate()
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "domains": list(self.domains),
            "symbols": list(self.symbols),
            "roots": list(self.roots()),
            "owed": self.owed,
            "not_yet_open": self.not_yet_open(),
            "never": self.count(NEVER),
            "failed": self.count(FAILED),
            "estimate_seconds": fill.seconds,
            "estimate": fill.as_dict(),
            "gaps": [_row(g) for g in self.gaps],
        }


def _row(gap: Gap) -> dict[str, object]:
    row = asdict(gap)
    row["trade_date"] = gap.trade_date.isoformat()
    return row


def to_csv(report: GapReport) -> str:
    """One row per gap, newest first, with a header (`gap_export.CSV_COLUMNS`)."""
    return csv_of(report.as_dict())


def to_json(report: GapReport) -> str:
    """The whole report (totals, throughput, estimate and every gap) as one JSON document."""
    return json_of(report.as_dict())


def datasets(settings: Settings, domains: Iterable[str]) -> list[Dataset]:
    """The partitioned assets of the domains, in lineage order, as their Definitions build them
    for this home (so there is no second list of datasets). Each domain's own Definitions, not
    the root's: the report needs no warehouse, and importing dbt would cost seconds."""
    out = []
    for domain in domains:
        module = importlib.import_module(f"market_spine.{domain}.definitions")
        for asset in module.build_definitions(settings).assets or ():
            if not isinstance(asset, dg.AssetsDefinition):
                continue
            if asset.partitions_def is None:
                continue
            out.extend(Dataset(domain, key, asset.partitions_def) for key in asset.keys)
    return out


def owed_days(
    domain: str, start: date, end: date, now: datetime, symbol: str | None = None
) -> list[date]:
    """Trade dates in [start, end] whose session has opened by `now` (UTC): the futures root's
    CME sessions, or the Cboe index-options sessions; none before the domain's history starts."""
    if domain == "futures":
        first = max(start, date.fromisoformat(FIRST_FUTURES_DATE))
        if first > end:
            return []
        assert symbol is not None
        return [s.trade_date for s in calendars.sessions(symbol, first, end) if s.open <= now]
    first = max(start, date.fromisoformat(FIRST_OPTIONS_DATE))
    days = (first + timedelta(days=i) for i in range((end - first).days + 1))
    return [
        d
        for d in days
        if (bounds := expirations.session_bounds(d)) is not None and bounds[0] <= now
    ]


def resolve_domains(domain: str) -> tuple[str, ...]:
    """`futures`, `options` or `all` as the domains it names; a clear error otherwise."""
    if domain == "all":
        return DOMAINS
    if domain not in DOMAINS:
        raise InvalidInput(f"--domain {domain!r} is not one of futures, options, all")
    return (domain,)


def resolve_symbols(settings: Settings, symbols: Sequence[str] | None) -> tuple[str, ...]:
    """The futures roots to analyse: `symbols`, else those the home captures; each must be a
    symbol partition of the home."""
    known = partition_symbols(settings)
    chosen = tuple(parse_root(s, "--symbols ") for s in symbols or () if s.strip())
    chosen = chosen or settings.symbols
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise InvalidInput(
            f"--symbols {','.join(unknown)} are not futures partitions of this home; "
            f"known symbols are {', '.join(known)}"
        )
    return chosen


def find_gaps(
    instance: dg.DagsterInstance,
    settings: Settings,
    start: date,
    end: date,
    *,
    domain: str = "all",
    symbols: Sequence[str] | None = None,
    now: datetime | None = None,
    batch: int = DEFAULT_BATCH,
    concurrency: int = DEFAULT_CONCURRENCY,
    daemon: bool | None = None,
) -> GapReport:
    """The gaps of every dataset of `domain` over trade dates [start, end], newest first (then
    failed before never attempted, then lineage order), with the run times to estimate a fill
    of `batch` trade dates a run, `concurrency` runs at once by. `now` (UTC, default the clock)
    decides which sessions have opened. When the daemon would execute the fill (`daemon`; None
    asks its heartbeat, as `gaps --fill` does), the estimate joins the run queue as it is now.
    InvalidInput on a reversed range, an unknown domain or symbol."""
    in_order(start, end)
    now = now or datetime.now(UTC)
    domains = resolve_domains(domain)
    roots = resolve_symbols(settings, symbols) if "futures" in domains else ()
    owed = 0
    gaps: list[Gap] = []
    order: dict[str, int] = {}
    analysed = datasets(settings, domains)
    for i, dataset in enumerate(analysed):
        order[dataset.name] = i
        expected = _expected(dataset.domain, roots, start, end, now)
        owed += len(expected)
        gaps += _missing(instance, dataset, expected, now.date())
    gaps.sort(key=lambda g: (-g.trade_date.toordinal(), g.status != FAILED, order[g.dataset]))
    return GapReport(
        start,
        end,
        domains,
        roots,
        owed,
        gaps,
        {d: measure(instance, d, {x.key for x in analysed if x.domain == d}) for d in domains},
        batch,
        concurrency,
        now.date(),
        run_queue(instance) if _daemon_fills(instance, daemon) else None,
    )


def _daemon_fills(instance: dg.DagsterInstance, daemon: bool | None) -> bool:
    if daemon is not None:
        return daemon
    from market_spine.operations.gap_fill import daemon_alive

    return daemon_alive(instance)


def _expected(
    domain: str, roots: Sequence[str], start: date, end: date, now: datetime
) -> dict[str, tuple[date, str | None]]:
    """Partition key -> (trade date, symbol) of what a dataset of `domain` owes."""
    if domain == "futures":
        return {
            str(partition_key(d, root)): (d, root)
            for root in roots
            for d in owed_days(domain, start, end, now, root)
        }
    return {d.isoformat(): (d, None) for d in owed_days(domain, start, end, now)}


def _missing(
    instance: dg.DagsterInstance,
    dataset: Dataset,
    expected: dict[str, tuple[date, str | None]],
    today: date,
) -> list[Gap]:
    if not expected:
        return []
    status = partition_status(instance, dataset)
    out = []
    for key, (day, symbol) in expected.items():
        found = status.get(key)
        if found in (MATERIALIZED, IN_PROGRESS):
            continue
        gap = FAILED if found == FAILED else NEVER
        out.append(Gap(dataset.name, dataset.domain, day, symbol, key, gap, (today - day).days))
    return out


def partition_status(instance: dg.DagsterInstance, dataset: Dataset) -> dict[str, str]:
    """Partition key -> materialized, failed or in progress, for the keys Dagster holds a status
    of (a key absent was never attempted), with Dagster's precedence: in progress, then failed
    (the latest attempt failed, even over older data), then materialized. Read from the asset
    status cache the UI's partition bars read, brought up to date from the event log since it
    was last written. Subsets become key sets once: asking a time-window subset about each key
    walks the calendar's exclusions every time."""
    value = get_and_update_asset_status_cache_value(instance, dataset.key, dataset.partitions_def)
    if value is None:  # never planned nor materialized
        return {}
    if value.partitions_def_id is None:  # a partitioning the cache does not cover
        return dict.fromkeys(instance.get_materialized_partitions(dataset.key), MATERIALIZED)
    definition = dataset.partitions_def
    status = dict.fromkeys(
        value.deserialize_materialized_partition_subsets(definition).get_partition_keys(),
        MATERIALIZED,
    )
    for key in value.deserialize_failed_partition_subsets(definition).get_partition_keys():
        status[key] = FAILED
    for key in value.deserialize_in_progress_partition_subsets(definition).get_partition_keys():
        status[key] = IN_PROGRESS
    return status
