"""Materialize futures partitions through Dagster from Python (the CLI, `make run`, tests): the runs
land in the given instance, so they show in the UI like any launched from there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from market_spine import calendars
from market_spine.errors import InvalidRange, NotATradingDay
from market_spine.futures.daily_bars import futures_bars_daily
from market_spine.futures.normalized_bars import normalized_futures_bars_1m
from market_spine.futures.partitions import FIRST_TRADE_DATE, partition_key
from market_spine.futures.raw_bars import raw_futures_bars_1m
from market_spine.instruments import get_instrument
from market_spine.lake.resource import LakeResource
from market_spine.providers.resource import MarketDataResource
from market_spine.settings import Settings

FUTURES_ASSETS = (raw_futures_bars_1m, normalized_futures_bars_1m, futures_bars_daily)
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


def market_resource(settings: Settings) -> MarketDataResource:
    """The market-data resource a home's settings describe."""
    return MarketDataResource(
        provider=settings.provider,
        seed=settings.sim_seed,
        options_provider=settings.options_provider,
        thetadata_url=settings.thetadata_url,
        thetadata_tier=settings.thetadata_tier,
        ib_host=settings.ib_host,
        ib_port=settings.ib_port,
        ib_client_id=settings.ib_client_id,
    )


def resources(settings: Settings, market: MarketDataResource | None = None) -> dict[str, object]:
    """The resources the futures assets need for a home."""
    return {
        "lake": LakeResource(root=str(settings.lake_root)),
        "market": market or market_resource(settings),
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
                list(FUTURES_ASSETS),
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
    from market_spine.option_calendar import is_trading_day
    from market_spine.options.partitions import FIRST_TRADE_DATE as FIRST_OPTION_DATE

    if end < start:
        raise InvalidRange(f"end {end} is before start {start}: swap them")
    first = date.fromisoformat(FIRST_OPTION_DATE)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    days = [d for d in days if d >= first and is_trading_day(d)]
    if not days:
        return None
    from market_spine.options.assets import OPTIONS_ASSETS

    result = dg.materialize(
        list(OPTIONS_ASSETS),
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
    start: date | None = None,
    end: date | None = None,
    *,
    instance: dg.DagsterInstance,
    log_level: str = "WARNING",
) -> list[RunSummary]:
    """Bring the warehouse up to date in one Dagster run with one dbt invocation: collect the
    check results, then build only the stale models and minute-fact partitions
    (`warehouse.build`). The weekdays of [start, end], when given, are rebuilt in the minute
    fact whatever the records say. Returns that run's summary."""
    from market_spine.warehouse.build import materialize_plan, plan_warehouse
    from market_spine.warehouse.definitions import warehouse_resources

    if start is not None and end is not None and end < start:
        raise InvalidRange(f"end {end} is before start {start}: swap them")
    days = []
    if start is not None and end is not None:
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    plan = plan_warehouse(instance, settings, also_dates=days)
    result = materialize_plan(
        plan,
        instance=instance,
        resources={
            "lake": LakeResource(root=str(settings.lake_root)),
            **warehouse_resources(settings),
        },
        tags={"market_spine/launched_by": "cli"},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    failed = tuple(
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    )
    first, last = plan.partition_range or (None, None)
    today = date.today()
    return [
        RunSummary(
            plan.label,
            date.fromisoformat(first) if first else start or today,
            date.fromisoformat(last) if last else end or today,
            result.run_id,
            result.success,
            failed,
        )
    ]
