"""The warehouse builds on a fresh clone whatever the working directory: a manifest or partial
parse that `dbt parse` made with a relative project folder (as `make install` once did) must not
send seed loads to a path that only resolves from the repository root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DbtProject

from market_spine.runs.launch import materialize_warehouse
from market_spine.warehouse.paths import DBT_PROJECT_DIR
from market_spine.warehouse.project import dbt_executable, prepared_manifest
from market_spine.warehouse.resource import WarehouseResource
from market_spine_tests.kit.homes import settings_for

REPO = DBT_PROJECT_DIR.parent


def _parse_from_repo_root(home: Path, target: Path) -> None:
    """`dbt parse` as the old install step ran it: from the repository, a relative project dir."""
    env = {
        **os.environ,
        "MARKET_SPINE_HOME": str(home),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target),
    }
    project = DBT_PROJECT_DIR.name
    subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--project-dir", project, "--profiles-dir", project],
        cwd=REPO,
        env=env,
        check=True,
    )


def _seed_roots(manifest: Path) -> set[str]:
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return {n["root_path"] for n in nodes if n["resource_type"] == "seed"}


@pytest.fixture(scope="module")
def relative_parse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A home, and a target folder holding what a relative `dbt parse` wrote for it."""
    base = tmp_path_factory.mktemp("first_run")
    home, target = base / "home", base / "parsed"
    home.mkdir()
    _parse_from_repo_root(home, target)
    assert _seed_roots(target / "manifest.json") == {DBT_PROJECT_DIR.name}, "not reproduced"
    return home, target


def test_seeds_load_from_another_cwd_after_a_relative_parse(
    relative_parse: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, parsed = relative_parse
    warehouse = WarehouseResource(home=str(home))
    # dagster-dbt seeds a home's target with the project's partial parse, then reuses it.
    warehouse.target_path.mkdir(parents=True)
    (warehouse.target_path / "partial_parse.msgpack").write_bytes(
        (parsed / "partial_parse.msgpack").read_bytes()
    )
    monkeypatch.chdir(home)  # `make run` builds from the home
    invocation = warehouse.run(["seed"])
    log = (warehouse.target_path / "dbt.log").read_text()
    assert "No files found" not in log
    assert invocation.is_successful()
    with warehouse.reading() as conn:
        roots = conn.execute("select count(*) from reference.ref_futures_roots").fetchone()[0]
    assert roots > 0


def test_a_manifest_made_for_another_root_is_parsed_again(
    relative_parse: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, parsed = relative_parse
    target = tmp_path / "target"
    target.mkdir()
    for name in ("manifest.json", "partial_parse.msgpack"):
        (target / name).write_bytes((parsed / name).read_bytes())
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=target
    )
    monkeypatch.chdir(tmp_path)
    manifest = prepared_manifest(project)
    assert manifest == target / "manifest.json"
    assert _seed_roots(manifest) == {str(DBT_PROJECT_DIR)}


def test_the_install_step_prepares_an_absolute_manifest() -> None:
    """The Makefile's install step prepares the manifest through the one module that knows how."""
    makefile = (REPO / "Makefile").read_text()
    assert "-m market_spine.warehouse.project" in makefile
    assert "dbt parse" not in makefile


def test_a_home_that_loaded_only_futures_builds_its_warehouse(
    materialized_home: Path, tmp_path: Path
) -> None:
    """The option tables were never written: their staging views stand in empty and typed."""
    home = tmp_path / "home"
    shutil.copytree(materialized_home / "lake", home / "lake")
    assert not (home / "lake" / "normalized" / "options_chain_eod").exists()
    with dg.instance_for_test() as instance:
        runs = materialize_warehouse(settings_for(home), instance=instance)
    assert runs and all(r.success for r in runs), runs
    with duckdb.connect(str(home / "warehouse" / "spine.duckdb"), read_only=True) as conn:
        [(bars,)] = conn.execute("select count(*) from marts.fct_futures_bars_daily").fetchall()
        [(options,)] = conn.execute("select count(*) from marts.fct_option_eod").fetchall()
    assert bars == 15 and options == 0
