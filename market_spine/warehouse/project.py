"""The dbt project, and a manifest that is there (and current) whenever definitions load.

`make install` and CI run `dbt parse`; this module re-parses when the manifest is missing or
older than the project's files, so a fresh clone, `dagster dev` and the test suite all load.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DbtCliResource, DbtProject

PROJECT_DIR = Path(__file__).resolve().parents[2] / "market_spine_dbt"
_SOURCES = ("dbt_project.yml", "profiles.yml", "models", "seeds", "macros", "tests")

warehouse_project = DbtProject(project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR)


def dbt_executable() -> str:
    """The dbt beside this interpreter (the venv's), so dbt runs without an activated venv."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"


def dbt_resource() -> DbtCliResource:
    """The dbt CLI resource: the project and its profiles.yml, both in the repository."""
    return DbtCliResource(
        project_dir=str(PROJECT_DIR), profiles_dir=str(PROJECT_DIR), dbt_executable=dbt_executable()
    )


def _parse(project: DbtProject) -> None:
    dbt_resource().cli(["parse", "--quiet"], target_path=project.target_path).wait()


def _newest_source(project_dir: Path) -> float:
    newest = 0.0
    for name in _SOURCES:
        path = project_dir / name
        files = [path] if path.is_file() else path.rglob("*") if path.is_dir() else []
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def prepared_manifest(project: DbtProject = warehouse_project) -> Path:
    """The manifest path, after running `dbt parse` if it is missing or stale."""
    manifest = project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source(project.project_dir):
        # Two processes loading at once (pytest workers) must not both write the manifest.
        run_with_concurrent_update_guard(manifest, _parse, project=project)
    return manifest
