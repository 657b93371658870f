"""Test homes: settings for a temporary home, a served home over a shared lake, and the week the
read-side tests materialize."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import dagster as dg

from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import LaunchedRun, materialize_range
from market_spine.settings import Settings

#: The week the read-side tests use: five sessions for each of CL, ES and NG.
WEEK = (date(2024, 3, 4), date(2024, 3, 8))
SYMBOLS = ("CL", "ES", "NG")

#: The repository's root, and the data files that travel with the tests.
REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "market_spine_tests" / "data"


def settings_for(home: Path) -> Settings:
    """Settings of a test home (simulated source, default seed)."""
    return Settings.from_env({"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": "dev"})


def home_with_instance(lake_home: Path, home: Path, *, share_lake: bool = True) -> Path:
    """`home` as `market-spine up` leaves it: a real (empty) Dagster instance folder, and the
    lake of `lake_home` behind a symlink unless `share_lake` is false (the caller fills one)."""
    home.mkdir()
    if share_lake:
        (home / "lake").symlink_to(lake_home / "lake", target_is_directory=True)
    dagster_home = settings_for(home).dagster_home
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    return home


def load_at(
    home: Path,
    instance: dg.DagsterInstance,
    now: str,
    start: date,
    end: date,
    symbols: Sequence[str] = SYMBOLS,
) -> list[LaunchedRun]:
    """Load futures sessions [start, end] through Dagster with the market's clock frozen at
    `now` (ISO UTC), as the hourly capture at that instant would; every run must succeed."""
    runs = materialize_range(
        settings_for(home),
        list(symbols),
        start,
        end,
        instance=instance,
        market=MarketDataResource(frozen_now=now),
    )
    assert all(r.success for r in runs), runs
    return runs
