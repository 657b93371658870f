"""Every definition loads, and a snapshot of what exists catches accidental additions or losses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from market_spine.definitions import build_definitions
from market_spine.futures import keys
from market_spine.markets import instruments
from market_spine_tests.kit.homes import REPO, settings_for

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def describe(defs: dg.Definitions) -> dict[str, list[str]]:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    return {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "checks": sorted(
            f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys
        ),
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repo.schedule_defs),
        "running_by_default": sorted(
            s.name
            for s in repo.schedule_defs
            if s.default_status == dg.DefaultScheduleStatus.RUNNING
        ),
        "pools": sorted(
            f"{key.to_user_string()}:{op.pool}"
            for key, asset in repo.assets_defs_by_key.items()
            if asset.is_executable
            for op in asset.node_def.iterate_op_defs()
            if op.pool
        ),
        "freshness_policies": sorted(
            k.to_user_string()
            for k in graph.get_all_asset_keys()
            if graph.get(k).freshness_policy is not None
        ),
    }


def test_definitions_load(tmp_path: Path) -> None:
    defs = build_definitions(settings_for(tmp_path))
    dg.Definitions.validate_loadable(defs)


def test_definitions_match_snapshot(tmp_path: Path) -> None:
    current = describe(build_definitions(settings_for(tmp_path)))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert SNAPSHOT.exists(), (
        f"no snapshot at {SNAPSHOT.name}: run the test with UPDATE_SNAPSHOTS=1"
    )
    assert current == json.loads(SNAPSHOT.read_text())


def test_root_merges_every_domain(tmp_path: Path) -> None:
    """Each domain contributes its own Definitions and the root adds nothing a domain lacks."""
    from market_spine.definitions import DOMAINS

    settings = settings_for(tmp_path)
    root = build_definitions(settings)
    from_domains = {
        key
        for module in DOMAINS.values()
        for asset in module.build_definitions(settings).assets or []
        for key in asset.keys
    }
    assert {k for a in root.assets or [] for k in a.keys} == from_domains
    assert from_domains, "the domains declared no assets"


def test_lineage_runs_from_raw_to_daily(tmp_path: Path) -> None:
    graph = build_definitions(settings_for(tmp_path)).get_repository_def().asset_graph
    daily = dg.AssetKey(["analytics", "futures_bars_daily"])
    normalized = dg.AssetKey(["normalized", "futures_bars_1m"])
    assert graph.get(daily).parent_keys == {normalized}
    assert graph.get(normalized).parent_keys == {dg.AssetKey(["raw", "futures_bars_1m"])}


def test_code_location_reads_the_environment_when_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`defs` (what workspace.yaml loads) takes its settings from the environment at each load,
    not at import: a root added to the instruments file appears on the next load."""
    from market_spine.definitions import defs

    monkeypatch.setattr(instruments, "_INSTRUMENTS", dict(instruments._INSTRUMENTS))
    for name in ("MARKET_SPINE_INSTRUMENTS", "MARKET_SPINE_SYMBOLS", "MARKET_SPINE_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MARKET_SPINE_HOME", str(tmp_path))

    def symbols() -> list[str]:
        graph = defs().get_repository_def().asset_graph
        multi = graph.get(keys.RAW_BARS).partitions_def
        assert isinstance(multi, dg.MultiPartitionsDefinition)
        return multi.get_partitions_def_for_dimension("symbol").get_partition_keys()

    assert symbols() == ["CL", "ES", "NG"]
    toml = tmp_path / "extra.toml"
    toml.write_text((REPO / "instruments.example.toml").read_text())
    monkeypatch.setenv("MARKET_SPINE_INSTRUMENTS", str(toml))
    assert symbols() == ["CL", "ES", "NG", "6E"]


def test_code_location_builds_once_until_the_home_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster loads `defs` for the code location, each execution plan and each run: a process
    builds them once while the home is unchanged, and again when its instruments file or its
    company dataset folder changes."""
    from market_spine import definitions
    from market_spine.company.home_defs import CompanyDefsInvalid, home_folder

    monkeypatch.setattr(instruments, "_INSTRUMENTS", dict(instruments._INSTRUMENTS))
    for name in ("MARKET_SPINE_INSTRUMENTS", "MARKET_SPINE_SYMBOLS", "MARKET_SPINE_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MARKET_SPINE_HOME", str(tmp_path))
    monkeypatch.setattr(definitions, "_built", None)
    built: list[object] = []
    build = definitions.build_definitions
    monkeypatch.setattr(
        definitions, "build_definitions", lambda settings: built.append(settings) or build(settings)
    )

    first = definitions.defs()
    assert definitions.defs() is first and len(built) == 1

    (tmp_path / "instruments.toml").write_text((REPO / "instruments.example.toml").read_text())
    with_6e = definitions.defs()
    assert with_6e is not first and len(built) == 2
    multi = with_6e.get_repository_def().asset_graph.get(keys.RAW_BARS).partitions_def
    assert isinstance(multi, dg.MultiPartitionsDefinition)
    assert "6E" in multi.get_partitions_def_for_dimension("symbol").get_partition_keys()
    assert definitions.defs() is with_6e and len(built) == 2

    folder = home_folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / "notes.yaml").write_text("# not a dataset yet\n")
    with pytest.raises(CompanyDefsInvalid, match=r"notes\.yaml"):
        definitions.defs()
    assert len(built) == 3
    (folder / "notes.yaml").unlink()  # the folder as it was: the definitions built for it
    assert definitions.defs() is with_6e and len(built) == 3
