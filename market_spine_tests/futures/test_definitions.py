"""The futures definitions follow the settings they are built from: two homes with different
instruments files, built in one process, each get their own symbol partitions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from market_spine.definitions import build_definitions
from market_spine.futures.definitions import ASSET_KEYS
from market_spine.markets import instruments
from market_spine.settings import Settings
from market_spine_tests.kit.homes import REPO, settings_for

EXAMPLE = REPO / "instruments.example.toml"


@pytest.fixture(autouse=True)
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Roots registered here stay in a registry this test alone sees."""
    monkeypatch.setattr(instruments, "_INSTRUMENTS", dict(instruments._INSTRUMENTS))


def symbol_partitions(defs: dg.Definitions) -> list[str]:
    """The symbol dimension every futures asset, check and the futures job share."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    found = [graph.get(k).partitions_def for k in ASSET_KEYS]
    found += [
        graph.get_check_spec(k).partitions_def
        for k in graph.asset_check_keys
        if k.asset_key in ASSET_KEYS and graph.get_check_spec(k).partitions_def is not None
    ]
    found.append(repo.get_job("futures_bars").partitions_def)
    assert len(found) > len(ASSET_KEYS) + 1 and all(p == found[0] for p in found), found
    multi = found[0]
    assert isinstance(multi, dg.MultiPartitionsDefinition)
    return multi.get_partitions_def_for_dimension("symbol").get_partition_keys()


def euro_home(path: Path) -> Path:
    """A home whose own instruments file adds 6E (the example file)."""
    path.mkdir(parents=True)
    (path / "instruments.toml").write_text(EXAMPLE.read_text())
    return path


def test_two_homes_in_one_process_get_their_own_symbol_partitions(tmp_path: Path) -> None:
    euro = build_definitions(settings_for(euro_home(tmp_path / "euro")))
    plain = build_definitions(settings_for(tmp_path / "plain"))
    assert symbol_partitions(euro) == ["CL", "ES", "NG", "6E"]
    assert symbol_partitions(plain) == ["CL", "ES", "NG"]
    # Built again afterwards, the first home still has 6E: nothing was fixed by the first build.
    assert symbol_partitions(build_definitions(settings_for(tmp_path / "euro"))) == [
        "CL",
        "ES",
        "NG",
        "6E",
    ]


def test_instruments_file_named_by_the_settings_adds_its_roots(tmp_path: Path) -> None:
    toml = tmp_path / "elsewhere.toml"
    toml.write_text(EXAMPLE.read_text())
    env = {"MARKET_SPINE_HOME": str(tmp_path / "home"), "MARKET_SPINE_INSTRUMENTS": str(toml)}
    settings = Settings.from_env(env)
    assert settings.instruments_path == toml
    assert symbol_partitions(build_definitions(settings))[-1] == "6E"


def test_only_the_captured_symbols_are_scheduled_and_watched(tmp_path: Path) -> None:
    """6E is a partition (for imports) but not captured unless the settings' symbols name it."""
    home = euro_home(tmp_path / "euro")
    env = {"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": "dev"}
    captured = Settings.from_env({**env, "MARKET_SPINE_SYMBOLS": "6E"})
    defs = build_definitions(captured)
    assert symbol_partitions(defs) == ["CL", "ES", "NG", "6E"]
    (schedule,) = [s for s in defs.schedules or [] if s.name == "futures_hourly_capture"]
    assert isinstance(schedule, dg.ScheduleDefinition)
    # Monday 2024-03-04 15:05 UTC: every CME session is open.
    monday = datetime(2024, 3, 4, 15, 5, tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=monday)
    assert [r.partition_key for r in schedule(context)] == ["2024-03-04|6E"]
