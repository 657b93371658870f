"""What a warehouse build must redo, and the one Dagster run (one dbt invocation) that does it.

A model is stale when it was never built, its relation is gone from the DuckDB file, its code
changed since its last build (for a reference seed: the rows the home's instruments give),
something it reads from the lake was materialized after its last build, or a model it reads is
stale itself. Minute-fact partitions are stale when the normalized minute bars of their trade date
were materialized after the fact's last build, or when the lake has that date and the fact does
not (a failed or missing partition is repaired by the next build). Asset-check results are
collected in the same run, so the quality mart is always rebuilt.

One build at a time: `process` and the warehouse automation sensor both react to new lake data,
so a build that finds another queued or under way (`active_build`) waits for it and builds only
what that one left stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster._core.events import DagsterEventType

from market_spine.futures.keys import NORMALIZED_BARS, table
from market_spine.futures.partitions import trade_dates
from market_spine.lake.sql import attach, refused_by, view_sql
from market_spine.lake.store import Lake
from market_spine.settings import Settings
from market_spine.warehouse.assets import warehouse_dbt_for
from market_spine.warehouse.paths import warehouse_path
from market_spine.warehouse.quality import CHECK_RESULTS_KEY
from market_spine.warehouse.reading import read_only
from market_spine.warehouse.translator import MINUTE_BARS_KEY

_PAGE = 1000


@dataclass(frozen=True)
class WarehousePlan:
    """The unpartitioned dbt models to build and the minute-fact trade dates (ISO) to rebuild;
    `covered`: those of them the lake holds minute bars of, which the rebuilt fact holds rows
    of (the others come out empty: no session that day, or its bars were never loaded)."""

    models: frozenset[dg.AssetKey]
    minute_dates: tuple[str, ...]
    covered: tuple[str, ...] = ()

    @property
    def selection(self) -> list[dg.AssetKey]:
        """The run's asset selection: check results, the stale models, the minute fact."""
        keys = [CHECK_RESULTS_KEY, *sorted(self.models, key=lambda k: k.to_user_string())]
        return [*keys, MINUTE_BARS_KEY] if self.minute_dates else keys

    @property
    def label(self) -> str:
        """What the run builds, for the console, naming the trade dates the minute fact covers:
        `3 models + minute fact 2024-03-04, 2024-03-05`, or `… 2024-03-01..2024-03-28 (20
        trade dates)`; dates rebuilt without bars are counted apart."""
        return self.outcome(frozenset(self.covered))

    def outcome(self, fact_dates: frozenset[str]) -> str:
        """What a build of this plan left, naming only the dates the minute fact now holds
        rows of (`fact_dates`, the fact's trade dates after the run) and counting the rest by
        kind: dates with no bars in the lake, and dates with bars the fact does not hold yet
        (the run failed, or stopped before them)."""
        models = f"{len(self.models)} model{'s' if len(self.models) != 1 else ''}"
        if not self.minute_dates:
            return models
        held = tuple(d for d in self.minute_dates if d in fact_dates)
        empty = len(self.minute_dates) - len(self.covered)
        pending = len([d for d in self.covered if d not in fact_dates])
        rest = [
            f"{n} date{'s' if n != 1 else ''} {kind}"
            for n, kind in ((pending, "with bars not built"), (empty, "without bars"))
            if n
        ]
        if not held:
            return f"{models} + minute fact: {', '.join(rest) or 'no date'}"
        also = f" ({', '.join(rest)})" if rest else ""
        return f"{models} + minute fact {_dates(held)}{also}"

    @property
    def partition_range(self) -> tuple[str, str] | None:
        """The minute fact's partition window (first and last trade date), if any."""
        return (self.minute_dates[0], self.minute_dates[-1]) if self.minute_dates else None


def fact_dates(home: Path) -> frozenset[str]:
    """The trade dates (ISO) the warehouse's minute fact holds rows of (none without a file)."""
    return _built(home).minute_dates


def _dates(days: tuple[str, ...]) -> str:
    """Sorted ISO dates named for a console line: each of up to three, else the span and count."""
    if len(days) <= 3:
        return ", ".join(days)
    return f"{days[0]}..{days[-1]} ({len(days)} trade dates)"


@dataclass(frozen=True)
class _Built:
    """What the DuckDB file holds: its relations and the minute fact's trade dates."""

    relations: frozenset[dg.AssetKey]
    minute_dates: frozenset[str]


def _built(home: Path) -> _Built:
    if not warehouse_path(home).is_file():
        return _Built(frozenset(), frozenset())
    with read_only(home) as conn:
        rows = conn.execute("select table_schema, table_name from information_schema.tables")
        relations = frozenset(dg.AssetKey([schema, name]) for schema, name in rows.fetchall())
        dates: frozenset[str] = frozenset()
        if MINUTE_BARS_KEY in relations:
            found = conn.execute(
                f"select distinct trade_date from {'.'.join(MINUTE_BARS_KEY.path)}"
            ).fetchall()
            dates = frozenset(d.isoformat() for (d,) in found)
    return _Built(relations, dates)


def _lake_minute_dates(lake: Lake) -> set[str]:
    """The trade dates the lake's normalized minute bars hold, read from the Parquet files."""
    if not lake.exists(table(NORMALIZED_BARS)):
        return set()
    body = view_sql(lake.snapshot(table(NORMALIZED_BARS)))
    if body is None:
        return set()
    with duckdb.connect() as conn:
        attach(conn, lake.storage)
        try:
            found = conn.execute(f"select distinct trade_date from ({body})").fetchall()
        except duckdb.Error as exc:
            damage = refused_by(exc)
            if damage is None:
                raise
            # Every date is read to plan the build: a damaged file stops it before dbt runs,
            # with the file, its partition and the repair.
            raise damage from None
    return {d.isoformat() for (d,) in found}


def _built_at(instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey]) -> dict:
    out: dict[dg.AssetKey, float | None] = {}
    for key in keys:
        event = instance.get_latest_materialization_event(key)
        out[key] = event.timestamp if event else None
    return out


def _stale_models(
    instance: dg.DagsterInstance,
    relations: set[dg.AssetKey],
    assets: dg.AssetsDefinition,
    check_results_as_input: bool = False,
) -> frozenset[dg.AssetKey]:
    specs = {s.key: s for s in assets.specs if s.key != MINUTE_BARS_KEY}
    deps = {key: [d.asset_key for d in spec.deps] for key, spec in specs.items()}
    upstream = {d for ds in deps.values() for d in ds if d not in specs}
    built = _built_at(instance, [*specs, *upstream])
    versions = instance.get_latest_materialization_code_versions(list(specs))
    stale: set[dg.AssetKey] = set()

    def is_stale(key: dg.AssetKey) -> bool:
        if key in stale:
            return True
        when, spec = built[key], specs[key]
        if when is None or key not in relations or versions.get(key) != spec.code_version:
            return True
        for dep in deps[key]:
            if dep in specs:
                if is_stale(dep):
                    return True
            elif (dep == CHECK_RESULTS_KEY and not check_results_as_input) or (
                built[dep] or 0.0
            ) > when:
                return True
        return False

    for key in specs:
        if is_stale(key):
            stale.add(key)
    return frozenset(stale)


def _trade_date(partition_key: str) -> str:
    return partition_key.split("|")[0]  # a normalized partition is `<date>|<symbol>`


def _stale_minute_dates(instance: dg.DagsterInstance, held: set[str], built: _Built) -> set[str]:
    """Dates the lake has (`held`) and the fact lacks, dates whose fact partition never
    materialized (a failed build), and dates re-materialized in the lake since the fact's last
    build."""
    dates = held - built.minute_dates
    loaded = {_trade_date(k) for k in instance.get_materialized_partitions(NORMALIZED_BARS)}
    dates |= loaded - instance.get_materialized_partitions(MINUTE_BARS_KEY)
    last = instance.get_latest_materialization_event(MINUTE_BARS_KEY)
    records_filter = dg.AssetRecordsFilter(
        asset_key=NORMALIZED_BARS, after_timestamp=last.timestamp if last else None
    )
    cursor = None
    while True:
        page = instance.fetch_materializations(records_filter, limit=_PAGE, cursor=cursor)
        dates |= {_trade_date(r.partition_key) for r in page.records if r.partition_key}
        if not page.has_more:
            return dates
        cursor = page.cursor


def plan_warehouse(
    instance: dg.DagsterInstance,
    settings: Settings,
    also_dates: Iterable[date] = (),
    *,
    check_results_as_input: bool = False,
) -> WarehousePlan:
    """What the next build of the home's warehouse must redo, from the lake, the DuckDB file and
    the instance's records; `also_dates` are minute-fact trade dates to rebuild whatever they
    say (weekends and dates outside the partitions are ignored). The models over the check
    results are always stale (checks are evaluated all the time), unless
    `check_results_as_input`: then only when results were collected after their last build (as
    right after a build that collected them)."""
    built = _built(settings.home)
    held = _lake_minute_dates(settings.lake())
    wanted = _stale_minute_dates(instance, held, built)
    wanted |= {d.isoformat() for d in also_dates}
    valid = set(trade_dates.get_partition_keys())
    # A model whose relation is missing is stale, and so is all it feeds: the views the minute
    # fact reads are built in the same invocation, never assumed from an earlier build.
    # The home's seeds are versioned by its instruments: adding a root makes them stale.
    assets = warehouse_dbt_for(settings.instruments_path)
    models = _stale_models(instance, set(built.relations), assets, check_results_as_input)
    dates = tuple(sorted(wanted & valid))
    return WarehousePlan(models, dates, tuple(d for d in dates if d in held))


#: A run that is still to come or under way.
_UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def active_build(
    instance: dg.DagsterInstance, settings: Settings, *, queue_runs: bool
) -> dg.DagsterRun | None:
    """The oldest warehouse build (a run selecting a dbt model) not yet finished: one the
    automation sensor requested, or another process's. A QUEUED one counts only when
    `queue_runs` (the deployment's queue daemon is running: otherwise nothing would start it)."""
    models = {s.key for s in warehouse_dbt_for(settings.instruments_path).specs}
    statuses = _UNFINISHED if queue_runs else _UNFINISHED[1:]
    records = instance.get_run_records(dg.RunsFilter(statuses=statuses), ascending=True)
    for record in records:
        run = record.dagster_run
        if set(run.asset_selection or ()) & models:
            return run
    return None


def minute_dates_built_by(instance: dg.DagsterInstance, run_id: str) -> set[date]:
    """The minute-fact trade dates a run materialized."""
    found: set[date] = set()
    cursor = None
    while True:
        page = instance.get_records_for_run(
            run_id, cursor=cursor, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=_PAGE
        )
        for record in page.records:
            event = record.event_log_entry.dagster_event
            if event is not None and event.asset_key == MINUTE_BARS_KEY and event.partition:
                found.add(date.fromisoformat(event.partition))
        if not page.has_more:
            return found
        cursor = page.cursor
