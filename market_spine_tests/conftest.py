"""Shared fixtures: temporary homes and instances, and one small materialized home reused by
read-side tests (the helpers behind them are in the test kit, market_spine_tests.kit)."""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from _pytest.faulthandler import fault_handler_stderr_fd_key

from market_spine.runs.launch import materialize_range
from market_spine_tests.kit.homes import SYMBOLS, WEEK, settings_for
from market_spine_tests.kit.postgres import PostgresServer, postgres_server
from market_spine_tests.kit.s3 import S3Server, s3_server
from market_spine_tests.kit.state_db import DIALECTS, home_of

#: The longest files, longest first (their tests' durations added up in a full run). They are
#: handed to the workers first: pytest-xdist gives out whole files in collection order
#: (`--no-loadscope-reorder` in setup.cfg), and a long file given out last keeps one worker
#: busy while the other has nothing left to do.
LONGEST_FILES = (
    "warehouse/test_build.py",
    "cli/test_up.py",
    "warehouse/test_as_of.py",
    "warehouse/test_warehouse.py",
    "lake/test_s3_slices.py",
    "operations/test_green_simulated_year.py",
    "warehouse/test_partial_parse_reuse.py",
    "warehouse/test_first_run.py",
    "cli/test_ui_exposure.py",
    "runs/test_postgres_instance.py",
    "cli/test_import_bars.py",
    "providers/test_thetadata.py",
    "cli/test_gaps.py",
    "operations/test_gap_fill.py",
    "warehouse/test_seeds.py",
    "api/test_ui_browser.py",
    "futures/test_capture_guard.py",
    "cli/test_signals.py",
    "warehouse/test_streamed_minutes.py",
    "warehouse/test_configured_roots.py",
    "cli/test_instruments_kept.py",
    "futures/test_assets.py",
    "company/test_home_defs.py",
    "runs/test_vendor_import.py",
    "certification/test_readiness.py",
    "certification/test_futures_certification.py",
    "cli/test_process_domains.py",
    "warehouse/test_company_clock.py",
    "api/test_as_certified.py",
    "api/test_bounds.py",
    "operations/test_cost_daily.py",
    "cli/test_runs_retry.py",
)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """A fatal signal (a native library's crash) dumps the crashing thread's stack alone, to
    the stream pytest keeps for it: the all-threads dump lists at most 100 threads, newest
    first, so a crash in a test's own thread, the oldest, went unnamed behind idle ones."""
    if fault_handler_stderr_fd_key in config.stash:
        faulthandler.enable(file=config.stash[fault_handler_stderr_fd_key], all_threads=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, in the order listed; the rest as collected."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    here = Path(__file__).parent

    def order(item: pytest.Item) -> int:
        name = item.path.relative_to(here).as_posix() if item.path.is_relative_to(here) else ""
        return rank.get(name, len(rank))

    items.sort(key=order)


@pytest.fixture(scope="session", autouse=True)
def _no_developer_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never see the developer's own home (`./.market_spine`, its instruments file) or
    `MARKET_SPINE_*` variables: the default home is an empty temporary folder. Nor the
    terminal's size: a report's layout is the same on a CI runner that sets COLUMNS."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("MARKET_SPINE_") or name in ("DAGSTER_HOME", "COLUMNS", "LINES"):
                patch.delenv(name)
        patch.setenv("MARKET_SPINE_HOME", str(tmp_path_factory.mktemp("default") / "home"))
        yield


def _restored_environment() -> Iterator[None]:
    """Code under test may point the process at a home (`home.activate`); what follows starts
    from the environment as it was. Only what changed is written back: native threads of
    polars read the environment (`getenv`) at any moment, and glibc's `getenv` beside a
    `setenv`/`unsetenv` on another thread reads freed memory. Clearing and refilling the whole
    environment after every test crashed workers in those threads."""
    saved = dict(os.environ)
    yield
    recorder = sys.modules.get("market_spine.audit.recorder")
    if recorder is not None:
        # A test's audit entries are written while its environment (which names the state
        # database they go to) still holds, never into the next test's.
        recorder.flush_all()
    for name in os.environ.keys() - saved.keys():
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test starts from the environment as it was before it."""
    yield from _restored_environment()


@pytest.fixture(scope="module", autouse=True)
def _module_environment_restored() -> Iterator[None]:
    """A module's own fixtures, set up before any of its tests, may point the process at their
    home: the next module starts from the environment as it was (else a later test reads that
    home, and registers its datasets, as its own)."""
    yield from _restored_environment()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty Market Spine home."""
    return tmp_path / "home"


@pytest.fixture(params=DIALECTS)
def state_home(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`home` with its stores (keys, audit, alerts, ledgers) in SQLite files, then in a fresh
    database of the session's PostgreSQL (`state_database`): each test runs on both."""
    return home_of(request, home, monkeypatch)


@pytest.fixture
def env_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`home` as the environment names it, for commands run through the CLI."""
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home


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


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """An S3-compatible server (moto, in its own process) for this test session."""
    with s3_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL cluster on loopback for this test process, removed at its end."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session", autouse=True)
def _unsynced_test_instances() -> Iterator[None]:
    """The SQLite Dagster instances and stores tests open in this process commit without
    syncing the disk, and their storages keep an engine per database: they are thrown away
    with the test, and the syncs were most of a warehouse build's time (see `kit.sqlite_sync`)."""
    from market_spine_tests.kit.sqlite_sync import (
        reused_engines,
        stock_engines,
        synced_sqlite,
        unsynced_sqlite,
    )

    unsynced_sqlite()
    reused_engines()
    yield
    stock_engines()
    synced_sqlite()
