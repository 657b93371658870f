"""The cost report: each run's recorded usage and each dataset's stored bytes over a window,
priced by the price sheet, grouped by dataset, asset or component.

A run's CPU is charged to each asset as measured around its step (steps executed in the run's
own process, the default) and the rest of the run's CPU (its start and end, steps run in
processes of their own) shared equally, an estimate: `cpu_measured_s` says how much of a line's
CPU was measured. Its bytes and provider requests are shared equally by the assets it
materialized or checked (an estimate: a run records them as a whole); its peak memory is the
run's, so a line carries the highest peak of the runs charged to it, never a sum; a provider's
subscription for the window is shared by the assets in proportion to their requests to it;
storage is charged to its dataset day by day, for the bytes it held that day (GB-month pro rata,
from the storage history `storage_history` reads: a day before any measurement is not priced);
a lake on object storage is charged its requests (GET, HEAD, PUT, LIST, DELETE) to the dataset
each was for, counted from the bucket's access logs (`object_requests`); by asset, a run's
requests (its User-Agent names it) are charged to its assets.
Components are the platform's domains (futures, options, streaming, warehouse, certification,
operations), from the catalog, `company` for a home's company datasets, and `lake` for requests
for no dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg

from market_spine.errors import InvalidInput
from market_spine.operations.cost.object_requests import (
    LAKE_ITSELF,
    NOT_CONFIGURED,
    AccessLog,
    Requests,
)
from market_spine.operations.cost.prices import PriceSheet
from market_spine.operations.cost.storage import WAREHOUSE, StoredBytes, stored_bytes
from market_spine.operations.cost.storage_history import (
    Held,
    day_fractions,
    held_on,
    recorded_storage,
)
from market_spine.operations.run_history import run_datasets
from market_spine.runs import meter

GROUPINGS = ("dataset", "asset", "component")
#: A month of storage pricing, in days.
MONTH_DAYS = 30.0
#: Where a cost with no asset goes (a subscription no run used in the window).
UNATTRIBUTED = "(unattributed)"
#: How a run's CPU, bytes and provider requests are shared by the assets it ran.
ASSET_SPLIT = (
    "CPU measured per step where a step ran in the run's own process (cpu_measured_s), the "
    "rest of a run's CPU shared equally by the assets not measured (by all of them when every "
    "step was: the run's own start and end), an estimate; MiB read and written and provider "
    "requests shared equally by the assets a run ran, an estimate (runs record them as a whole); "
    "object-store requests counted per run from the access log (the User-Agent names the run), "
    "charged to the asset whose dataset they were for, the rest of a run's shared equally"
)


@dataclass
class CostLine:
    """One group's usage and cost over the window. Dollars per kind; usage in CPU seconds, MiB,
    requests and bytes; `runs` counts the distinct metered runs that contributed (`run_ids`);
    `peak_memory_mb` is the highest peak of those runs (a run's peak is its own, not its
    assets')."""

    key: str
    component: str
    compute_usd: float = 0.0
    requests_usd: float = 0.0
    subscription_usd: float = 0.0
    storage_usd: float = 0.0
    object_requests_usd: float = 0.0
    cpu_s: float = 0.0
    #: The part of `cpu_s` measured around the asset's own steps (the rest is an even share).
    cpu_measured_s: float = 0.0
    peak_memory_mb: float = 0.0
    read_mb: float = 0.0
    written_mb: float = 0.0
    provider_requests: int = 0
    current_bytes: int = 0
    kept_bytes: int = 0
    run_ids: set[str] = field(default_factory=set)
    #: Object-store requests by kind (get, head, put, list, delete).
    object_requests: dict[str, int] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        """The distinct runs charged here: a run of five assets is one run."""
        return len(self.run_ids)

    @property
    def total_usd(self) -> float:
        return (
            self.compute_usd
            + self.requests_usd
            + self.subscription_usd
            + self.storage_usd
            + self.object_requests_usd
        )

    def add(self, other: CostLine) -> None:
        """Fold `other` into this line (peak memory is the larger; everything else sums)."""
        for name in (
            "compute_usd",
            "requests_usd",
            "subscription_usd",
            "storage_usd",
            "object_requests_usd",
            "cpu_s",
            "cpu_measured_s",
            "read_mb",
            "written_mb",
            "provider_requests",
            "current_bytes",
            "kept_bytes",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.peak_memory_mb = max(self.peak_memory_mb, other.peak_memory_mb)
        self.run_ids |= other.run_ids
        for kind, n in other.object_requests.items():
            self.object_requests[kind] = self.object_requests.get(kind, 0) + n

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["run_ids"]
        for name, value in out.items():
            if name.endswith("_usd") or name in (
                "cpu_s",
                "cpu_measured_s",
                "read_mb",
                "written_mb",
            ):
                out[name] = round(value, 6)
        out["runs"] = self.runs
        out["total_usd"] = round(self.total_usd, 6)
        return out


@dataclass(frozen=True)
class CostReport:
    """Cost lines over [since, until] grouped `by`, most expensive first, with the sheet used,
    the finished runs that recorded no usage (priced at nothing: listed so the gap is visible),
    the runs still queued or running (priced once they end and record their usage) and the
    days of the window before any storage measurement (their storage is not priced)."""

    since: datetime
    until: datetime
    by: str
    lines: list[CostLine]
    prices: PriceSheet
    unmetered_runs: int = 0
    metered_runs: int = 0
    running_runs: int = 0
    totals: CostLine = field(default_factory=lambda: CostLine("total", ""))
    storage_unrecorded_days: int = 0
    #: Why the lake's object-store requests are not counted (empty when they are, or when the
    #: lake is a local folder, which makes none).
    object_requests_note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "by": self.by,
            "prices": self.prices.as_json(),
            "metered_runs": self.metered_runs,
            "unmetered_runs": self.unmetered_runs,
            "running_runs": self.running_runs,
            "storage_unrecorded_days": self.storage_unrecorded_days,
            "object_requests_note": self.object_requests_note,
            "asset_split": ASSET_SPLIT,
            "total": self.totals.as_json(),
            "lines": [line.as_json() for line in self.lines],
        }


@cache
def _components() -> dict[str, str]:
    """Dataset name -> the domain that owns it, from the catalog's families."""
    from market_spine.certification.catalog import CERTIFICATION_DATASETS
    from market_spine.futures.catalog import FUTURES_DATASETS
    from market_spine.operations.cost.table import COST_DAILY_SPEC
    from market_spine.operations.retention import PRUNINGS_SPEC
    from market_spine.options.catalog import OPTIONS_DATASETS
    from market_spine.streaming.catalog import STREAMING_DATASETS
    from market_spine.warehouse.catalog import WAREHOUSE_DATASETS
    from market_spine.warehouse.model_catalog import model_datasets

    families = {
        "futures": FUTURES_DATASETS,
        "streaming": STREAMING_DATASETS,
        "options": OPTIONS_DATASETS,
        "warehouse": [*WAREHOUSE_DATASETS, *model_datasets()],
        "certification": CERTIFICATION_DATASETS,
        "operations": [PRUNINGS_SPEC, COST_DAILY_SPEC],
    }
    found = {spec.name: domain for domain, specs in families.items() for spec in specs}
    found[WAREHOUSE] = "warehouse"
    return found


def component_of(name: str) -> str:
    """The component (domain) of a dataset or asset key; a company dataset's tables (declared
    by a home, `<layer>/company_*`) are `company`; by its layer when the catalog has no entry
    (a warehouse model is `warehouse`), else `other`."""
    from market_spine.company.tables import PREFIX as COMPANY_PREFIX

    known = _components()
    if name in known:
        return known[name]
    layer, _, table = name.partition("/")
    if table.startswith(COMPANY_PREFIX):
        return "company"
    return {"warehouse": "warehouse", "marts": "warehouse", "quality": "operations"}.get(
        layer, "other"
    )


def parse_by(text: str, option: str = "--by") -> str:
    """`--by` checked: one of GROUPINGS, else InvalidInput naming them and `option` (the flag,
    or an API's query field)."""
    wanted = text.strip().lower()
    if wanted not in GROUPINGS:
        raise InvalidInput(f"{option} {text!r} is not one of {', '.join(GROUPINGS)}")
    return wanted


class RunCosts(NamedTuple):
    """What the runs of a window cost (`run_lines`): per-asset compute and request lines, the
    requests per provider per asset (for sharing subscriptions), and how many runs were
    metered, finished without usage (unmetered), or are still queued or running (their usage
    is recorded when they end: neither metered nor lost yet)."""

    lines: list[CostLine]
    requests: dict[str, dict[str, int]]
    metered: int
    unmetered: int
    running: int
    #: The assets each metered run ran, by run id.
    assets: dict[str, tuple[str, ...]]


def run_lines(
    instance: dg.DagsterInstance,
    since: datetime,
    prices: PriceSheet,
    until: datetime | None = None,
) -> RunCosts:
    """The cost of every run created since `since` (and before `until` when given)."""
    lines: list[CostLine] = []
    requests: dict[str, dict[str, int]] = {}
    ran: dict[str, tuple[str, ...]] = {}
    metered = unmetered = running = 0
    cursor = None
    while True:
        records = instance.get_run_records(
            dg.RunsFilter(created_after=since, created_before=until), limit=500, cursor=cursor
        )
        for record in records:
            run = record.dagster_run
            used = meter.usage(run.tags, run.run_id)
            if used is None:
                if run.is_finished:
                    unmetered += 1
                else:
                    running += 1
                continue
            metered += 1
            assets = run_datasets(run, instance) or (run.job_name,)
            ran[run.run_id] = tuple(assets)
            share = 1.0 / len(assets)
            cpu = asset_cpu(used, assets)
            for asset in assets:
                sent = {p: n * share for p, n in used.provider_requests.items()}
                seconds, measured_s = cpu[asset]
                line = CostLine(
                    asset,
                    component_of(asset),
                    compute_usd=seconds / 3600.0 * prices.vcpu_hour,
                    requests_usd=sum(n / 1000.0 * prices.request_price(p) for p, n in sent.items()),
                    cpu_s=seconds,
                    cpu_measured_s=measured_s,
                    peak_memory_mb=used.peak_memory_mb,
                    read_mb=used.read_mb * share,
                    written_mb=used.written_mb * share,
                    provider_requests=round(sum(sent.values())),
                    run_ids={run.run_id},
                )
                lines.append(line)
                for provider, n in sent.items():
                    per_asset = requests.setdefault(provider, {})
                    per_asset[asset] = per_asset.get(asset, 0) + round(n)
        if len(records) < 500:
            break
        cursor = records[-1].dagster_run.run_id
    return RunCosts(lines, requests, metered, unmetered, running, ran)


def asset_cpu(used: meter.RunUsage, assets: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Each asset's CPU seconds of a run and the part of them measured: what its steps measured,
    plus an equal share of the rest of the run's CPU, shared by the assets not measured, or by
    all of them when every one was (the run's own start and end). The shares sum to the run's
    CPU."""
    measured = {a: s for a, s in used.asset_cpu_s.items() if a in assets}
    rest = max(0.0, used.cpu_s - sum(measured.values()))
    even_over = [a for a in assets if a not in measured] or list(assets)
    return {
        a: (
            measured.get(a, 0.0) + (rest / len(even_over) if a in even_over else 0.0),
            measured.get(a, 0.0),
        )
        for a in assets
    }


def subscription_lines(
    prices: PriceSheet, requests: dict[str, dict[str, int]], days: float
) -> list[CostLine]:
    """Each provider's subscription for `days`, shared by its assets by requests."""
    lines: list[CostLine] = []
    for provider, monthly in prices.subscriptions.items():
        amount = monthly * days / MONTH_DAYS
        users = {a: n for a, n in requests.get(provider, {}).items() if n > 0}
        if not users:
            lines.append(CostLine(UNATTRIBUTED, "providers", subscription_usd=amount))
            continue
        total = sum(users.values())
        for asset, n in users.items():
            lines.append(CostLine(asset, component_of(asset), subscription_usd=amount * n / total))
    return lines


def storage_lines(stored: Iterable[StoredBytes], prices: PriceSheet, days: float) -> list[CostLine]:
    """Each dataset's bytes kept, priced for `days`."""
    return [
        CostLine(
            b.dataset,
            component_of(b.dataset),
            storage_usd=b.total / 1e9 * prices.gb_month * days / MONTH_DAYS,
            current_bytes=b.current,
            kept_bytes=b.kept,
        )
        for b in stored
    ]


def held_storage_lines(
    held: Mapping[date, Held | None],
    fractions: Mapping[date, float],
    measured: Iterable[StoredBytes],
    prices: PriceSheet,
) -> tuple[list[CostLine], int]:
    """Each dataset's storage over a window: every day's bytes (`held`, None before any
    measurement) priced for the part of the day in the window (`fractions`), carrying the
    bytes `measured` now; and how many days were priced at nothing for want of a measurement."""
    lines = {
        b.dataset: CostLine(
            b.dataset, component_of(b.dataset), current_bytes=b.current, kept_bytes=b.kept
        )
        for b in measured
    }
    unrecorded = 0
    for day, fraction in fractions.items():
        stored = held.get(day)
        if stored is None:
            unrecorded += 1
            continue
        for line in storage_lines(stored, prices, fraction):
            if line.key not in lines:
                lines[line.key] = CostLine(line.key, line.component)
            lines[line.key].storage_usd += line.storage_usd
    return list(lines.values()), unrecorded


def object_request_lines(
    counts: Mapping[Requests, int],
    prices: PriceSheet,
    run_assets: Mapping[str, Sequence[str]] | None = None,
) -> list[CostLine]:
    """Each dataset's object-store requests by kind (`object_requests.count_requests`), priced
    per 1,000 of each kind. Given `run_assets` (run id → the assets it ran), the lines are by
    asset instead: a run's requests for the dataset of one of its assets are that asset's,
    its others shared equally by its assets; requests made outside those runs are left out
    (they belong to datasets, not to steps)."""
    charged: dict[str, dict[str, float]] = {}
    runs: dict[str, set[str]] = {}
    for (dataset, kind, run_id), n in counts.items():
        if run_assets is None:
            shares = {dataset: float(n)}
        else:
            assets = run_assets.get(run_id or "")
            if not assets:
                continue
            shares = (
                {dataset: float(n)} if dataset in assets else {a: n / len(assets) for a in assets}
            )
            for key in shares:
                runs.setdefault(key, set()).add(run_id or "")
        for key, share in shares.items():
            kinds = charged.setdefault(key, {})
            kinds[kind] = kinds.get(kind, 0.0) + share
    return [
        CostLine(
            key,
            "lake" if key == LAKE_ITSELF else component_of(key),
            object_requests_usd=sum(
                n / 1000.0 * prices.per_1k_object_requests.get(kind, 0.0)
                for kind, n in kinds.items()
            ),
            object_requests={kind: round(n) for kind, n in kinds.items()},
            run_ids=runs.get(key, set()),
        )
        for key, kinds in sorted(charged.items())
    ]


def group(lines: Sequence[CostLine], by: str) -> list[CostLine]:
    """Lines folded by their key (a dataset or an asset key: an asset writes the dataset of its
    own name) or by component, most expensive first."""
    folded: dict[str, CostLine] = {}
    for line in lines:
        key = line.component if by == "component" else line.key
        if key not in folded:
            folded[key] = CostLine(key, line.component)
        folded[key].add(line)
    return sorted(folded.values(), key=lambda line: (-line.total_usd, line.key))


def cost_report(
    instance: dg.DagsterInstance,
    lake_specs: Sequence[Any],
    lake: Any,
    home: Path,
    prices: PriceSheet,
    *,
    since: datetime,
    by: str = "component",
    now: datetime | None = None,
    object_requests: Callable[[datetime, datetime], Mapping[Requests, int]] | None = None,
) -> CostReport:
    """The cost over [since, now] grouped `by`: `dataset` and `component` charge everything
    (runs, subscriptions, storage, the lake's object-store requests: `object_requests` counts
    them by dataset, kind and run over a window); `asset` charges what ran (compute, provider
    and object-store requests, subscriptions), as storage and the requests made outside runs
    belong to datasets, not to the steps that made them. Storage is priced per day from the
    bytes recorded that day (`storage_history`); today's are measured now."""
    by = parse_by(by)
    now = now or datetime.now(UTC)
    if since >= now:
        raise InvalidInput(f"--since {since.isoformat()} is not in the past: give 30d, 1w, ...")
    days = (now - since).total_seconds() / 86400.0
    runs = run_lines(instance, since, prices)
    stored, unrecorded = window_storage(lake, home, lake_specs, prices, since, now)
    lines = [*runs.lines, *subscription_lines(prices, runs.requests, days)]
    if by != "asset":
        lines += stored
    if object_requests is not None:
        run_assets = runs.assets if by == "asset" else None
        lines += object_request_lines(object_requests(since, now), prices, run_assets)
    if by == "asset":
        ran = {line.key for line in runs.lines}
        lines = [line for line in lines if line.key in ran or line.key == UNATTRIBUTED]
    totals = CostLine("total", "")
    for line in lines:
        totals.add(line)
    return CostReport(
        since=since,
        until=now,
        by=by,
        lines=group(lines, by),
        prices=prices,
        unmetered_runs=runs.unmetered,
        metered_runs=runs.metered,
        running_runs=runs.running,
        totals=totals,
        storage_unrecorded_days=unrecorded if by != "asset" else 0,
    )


def window_storage(
    lake: Any,
    home: Path,
    lake_specs: Sequence[Any],
    prices: PriceSheet,
    since: datetime,
    now: datetime,
) -> tuple[list[CostLine], int]:
    """The storage lines of [since, now] (`held_storage_lines`): the bytes measured now are
    today's; earlier days' are the ones recorded in the lake's storage history."""
    measured = stored_bytes(lake, home, list(lake_specs))
    today = now.astimezone(UTC).date()
    history: dict[date, Held] = {**recorded_storage(lake, before=today), today: measured}
    fractions = day_fractions(since, now)
    return held_storage_lines(held_on(history, fractions), fractions, measured, prices)


def priced_home(settings: Any) -> tuple[dg.DagsterInstance, PriceSheet]:
    """A home's (`Settings`) instance, to be closed by the caller, and its price sheet;
    InvalidInput for a bad price sheet or a home without an instance."""
    from market_spine.home import existing_instance
    from market_spine.operations.cost.prices import load_prices

    prices = load_prices(settings.home)
    instance = existing_instance(settings)
    if instance is None:
        raise InvalidInput(
            f"the home {settings.home} has no Dagster instance yet: run `market-spine up` or "
            "`market-spine process` first"
        )
    return instance, prices


def home_cost(
    settings: Any,
    *,
    since: str = "30d",
    by: str = "component",
    options: tuple[str, str] = ("--since", "--by"),
    now: datetime | None = None,
) -> CostReport:
    """The cost report of a home (`Settings`): its instance's runs, its lake and warehouse, its
    price sheet. `since` as operators type it (30d, 2w, a date); InvalidInput for a bad option
    (named as `options` says: the flags by default, an API's query fields), a bad price sheet,
    or a home without an instance. The window ends at `now` (the present by default)."""
    from market_spine.catalog.registry import CATALOG
    from market_spine.operations.run_history import parse_since

    now = now or datetime.now(UTC)
    since_option, by_option = options
    since_at = parse_since(since, now=now, option=since_option)
    by = parse_by(by, by_option)
    if since_at >= now:
        raise InvalidInput(
            f"{since_option} {since!r} is not in the past: give an age (30d, 2w) or a past date"
        )
    instance, prices = priced_home(settings)
    access_log = home_object_requests(settings)
    with instance:
        report = cost_report(
            instance,
            list(CATALOG),
            settings.lake(),
            settings.home,
            prices,
            since=since_at,
            by=by,
            now=now,
            object_requests=access_log,
        )
    if access_log is not None:
        return replace(report, object_requests_note=access_log.note())
    return replace(report, object_requests_note=NOT_CONFIGURED if settings.lake_uri else "")


def home_object_requests(settings: Any) -> AccessLog | None:
    """How to count a home's (`Settings`) lake requests over a window, from the access logs
    its settings name; None for a lake without them (a local folder, no log configured)."""
    if not settings.lake_uri or not settings.lake_access_log:
        return None
    return AccessLog(settings.lake_access_log, settings.lake_uri, settings.lake_options())
