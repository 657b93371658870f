"""Homes with run history: real CLI runs in a home's own Dagster instance, some of them failed
(a capture from an IB Gateway where nothing listens), for the operator's console to read."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import dagster as dg

from market_spine.futures.partitions import partition_key
from market_spine.home import instance as home_instance
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import RunSummary, domain_assets, materialize_range, resources
from market_spine.settings import Settings
from market_spine_tests.kit.homes import settings_for

#: The day the run-history tests materialize, and the two-day range of the ES runs.
DAY = date(2024, 3, 5)
ES_DAYS = (date(2024, 3, 5), date(2024, 3, 6))


def free_port() -> int:
    """A loopback port nothing listens on (until someone binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable_ib() -> MarketDataResource:
    """Bars from an IB Gateway on a free loopback port: every capture fails within a second."""
    return MarketDataResource(provider="ib", ib_port=free_port(), ib_unavailable_after=0.5)


def run_days(
    home: Path,
    symbol: str,
    first: date,
    last: date | None = None,
    *,
    market: MarketDataResource | None = None,
) -> RunSummary:
    """One CLI run of `symbol`'s futures over [first, last] in the home's instance."""
    settings = settings_for(home)
    with home_instance(settings) as inst:
        [summary] = materialize_range(
            settings, [symbol], first, last or first, instance=inst, market=market
        )
    return summary


def open_instance(home: Path) -> dg.DagsterInstance:
    """The home's Dagster instance (the one `market-spine` commands open)."""
    return dg.DagsterInstance.from_config(str(settings_for(home).dagster_home))


def futures_day(
    settings: Settings,
    instance: dg.DagsterInstance,
    day: date,
    now: str,
    defects: Sequence[str] = (),
    symbol: str = "CL",
) -> None:
    """Materialize `symbol`'s futures assets for `day` as captured at `now` (ISO UTC: before
    the session's end its data is preliminary), with the simulated market's `defects`."""
    result = dg.materialize(
        domain_assets(settings, "futures"),
        partition_key=partition_key(day, symbol),
        resources=resources(settings, MarketDataResource(frozen_now=now, defects=list(defects))),
        instance=instance,
    )
    assert result.success


def company_orders_day(settings: Settings, instance: dg.DagsterInstance, day: str) -> None:
    """Capture the packaged `orders` company dataset and build (judge and certify) its silver
    partition `day` (`2026-11-25`) in the home's lake, so readiness holds a company dataset."""
    from market_spine.company.catalog import DEFS_FOLDER
    from market_spine.company.definitions import load_folder
    from market_spine.lake.resource import LakeResource

    assets = [
        a
        for a in load_folder(DEFS_FOLDER).assets or []
        if isinstance(a, dg.AssetsDefinition) and a.key.path[-1] == "company_orders"
    ]
    raw = next(a for a in assets if "raw" in a.key.path)
    silver = next(a for a in assets if "normalized" in a.key.path)
    lake = {"lake": LakeResource(root=str(settings.lake_root))}
    assert dg.materialize([raw], resources=lake, instance=instance).success
    assert dg.materialize([silver], resources=lake, instance=instance, partition_key=day).success
