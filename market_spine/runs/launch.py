"""Materialize futures partitions through Dagster from Python (the CLI, `make run`, tests): the runs
land in the given instance, so they show in the UI like any launched from there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from market_spine.errors import InvalidRange, NotATradingDay
from market_spine.futures.partitions import FIRST_TRADE_DATE, partition_key
from market_spine.lake.resource import LakeResource
from market_spine.markets import calendars
from market_spine.markets.instruments import get_instrument
from market_spine.providers.resource import MarketDataResource
from market_spine.settings import Settings

MAX_DAYS_PER_RUN = 400


@dataclass(frozen=True)
class RunSummary:
    """One Dagster run of a symbol's date range."""

    symbol: str
    start: date
    end: date
    run_id: str
    success: bool
    failed_checks: tuple[str, ...]


def domain_assets(settings: Settings, domain: str) -> list[dg.AssetsDefinition]:
    """The assets a domain's Definitions declare, in lineage order."""
    from market_spine.definitions import DOMAINS

    return list(DOMAINS[domain].build_definitions(settings).assets or [])


def resources(settings: Settings, market: MarketDataResource | None = None) -> dict[str, object]:
    """The resources the futures assets need for a home."""
    return {
        "lake": LakeResource(root=str(settings.lake_root)),
        "market": market or MarketDataResource.from_settings(settings),
    }


def plan(symbols: Sequence[str], start: date, end: date) -> dict[str, list[date]]:
    """Trading days per symbol in [start, end]; a range with none is a clear error."""
    if end < start:
        raise InvalidRange(f"end {end} is before start {start}: swap them")
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
    log_level: str = "WARNING",
    selection: Sequence[dg.AssetKey] | None = None,
) -> list[RunSummary]:
    """One single-run backfill per symbol (chunked), through all futures assets and their checks;
    `selection` limits the run to some of them (a file import skips the provider's raw asset)."""
    summaries = []
    for symbol, days in plan(symbols, start, end).items():
        for i in range(0, len(days), MAX_DAYS_PER_RUN):
            chunk = days[i : i + MAX_DAYS_PER_RUN]
            first, last = chunk[0], chunk[-1]
            result = dg.materialize(
                domain_assets(settings, "futures"),
                selection=list(selection) if selection is not None else None,
                instance=instance,
                resources=resources(settings, market),
                tags={
                    "dagster/asset_partition_range_start": partition_key(first, symbol),
                    "dagster/asset_partition_range_end": partition_key(last, symbol),
                    "market_spine/launched_by": "cli",
                },
                run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
                raise_on_error=False,
            )
            failed = tuple(
                f"{e.asset_key.to_user_string()}:{e.check_name}"
                for e in result.get_asset_check_evaluations()
                if not e.passed
            )
            summary = RunSummary(symbol, first, last, result.run_id, result.success, failed)
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
    log_level: str = "WARNING",
) -> RunSummary | None:
    """One single-run backfill of the option assets over the trading days in [start, end]."""
    from market_spine.markets.expirations import is_trading_day
    from market_spine.options.partitions import FIRST_TRADE_DATE as FIRST_OPTION_DATE

    if end < start:
        raise InvalidRange(f"end {end} is before start {start}: swap them")
    first = date.fromisoformat(FIRST_OPTION_DATE)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    days = [d for d in days if d >= first and is_trading_day(d)]
    if not days:
        return None
    result = dg.materialize(
        domain_assets(settings, "options"),
        instance=instance,
        resources=resources(settings, market),
        tags={
            "dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat(),
            "market_spine/launched_by": "cli",
        },
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
    )
    failed = tuple(
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    )
    return RunSummary("SPX", days[0], days[-1], result.run_id, result.success, failed)


def materialize_warehouse(
    settings: Settings,
    start: date,
    end: date,
    *,
    instance: dg.DagsterInstance,
    log_level: str = "WARNING",
) -> list[RunSummary]:
    """Collect the check results, build the warehouse (seeds, views, dims, facts, dbt tests) and
    the minute-bar fact for the weekdays in [start, end]: the same assets automation runs."""
    from market_spine.lake.resource import LakeResource
    from market_spine.warehouse.assets import warehouse_dbt, warehouse_dbt_minute_bars
    from market_spine.warehouse.definitions import warehouse_resources
    from market_spine.warehouse.quality import check_results

    if end < start:
        raise InvalidRange(f"end {end} is before start {start}: swap them")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    weekdays = [d for d in days if d.weekday() < 5]
    run_resources = {
        "lake": LakeResource(root=str(settings.lake_root)),
        **warehouse_resources(settings),
    }
    config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    steps: list[tuple[str, list, dict[str, str]]] = [
        ("check results + dbt build", [check_results, warehouse_dbt], {})
    ]
    if weekdays:
        window = {
            "dagster/asset_partition_range_start": weekdays[0].isoformat(),
            "dagster/asset_partition_range_end": weekdays[-1].isoformat(),
        }
        steps.append(("fct_futures_bars_1m", [warehouse_dbt_minute_bars], window))
    summaries = []
    for label, assets, tags in steps:
        result = dg.materialize(
            assets,
            instance=instance,
            resources=run_resources,
            tags={**tags, "market_spine/launched_by": "cli"},
            run_config=config,
            raise_on_error=False,
        )
        failed = tuple(
            f"{e.asset_key.to_user_string()}:{e.check_name}"
            for e in result.get_asset_check_evaluations()
            if not e.passed
        )
        summaries.append(RunSummary(label, start, end, result.run_id, result.success, failed))
    return summaries
