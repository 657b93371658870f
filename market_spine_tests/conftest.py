"""Shared fixtures: temporary homes, and one small materialized home reused by read-side tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from market_spine.runs.launch import materialize_range
from market_spine.settings import Settings

#: The week the read-side tests use: five sessions for each of CL, ES and NG.
WEEK = (date(2024, 3, 4), date(2024, 3, 8))
SYMBOLS = ("CL", "ES", "NG")


def settings_for(home: Path) -> Settings:
    """Settings of a test home (simulated source, default seed)."""
    return Settings.from_env({"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": "test"})


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty Market Spine home."""
    return tmp_path / "home"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A real, temporary Dagster instance (SQLite storage in a temp folder)."""
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(scope="session")
def materialized_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with WEEK materialized for SYMBOLS through Dagster; tests must only read it."""
    home = tmp_path_factory.mktemp("materialized") / "home"
    with dg.instance_for_test() as inst:
        runs = materialize_range(settings_for(home), SYMBOLS, *WEEK, instance=inst)
    assert all(r.success for r in runs), runs
    return home
