"""The dbt project, and a manifest that is there, current and made for this checkout whenever
definitions load or dbt runs.

dbt records each seed's project root in its manifest and reuses it through partial parsing. A
parse run with a relative `--project-dir` (or in a checkout since moved) leaves a root that only
resolves from where it ran, and every later seed load fails with "No files found". So the
manifest is re-parsed whenever a seed's root is not this checkout's absolute project folder, and
a partial-parse file made for another root is discarded before dbt can reuse it.
`python -m market_spine.warehouse.project` prepares the manifest (`make install` runs it).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

import msgpack
from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

from market_spine.warehouse.paths import DBT_PROJECT_DIR

_SOURCES = ("dbt_project.yml", "profiles.yml", "models", "seeds", "macros", "tests")
PARTIAL_PARSE = "partial_parse.msgpack"

#: What every build of the warehouse leaves out: the dbt unit tests, which check the models' SQL
#: on fixed inputs, not the data, so they change only with the code. They run in the suite
#: (`dbt test --select test_type:unit`), as dbt advises, instead of adding ~10 s of dbt
#: threads to every build.
BUILD_EXCLUDES = ("--exclude-resource-type", "unit_test")

warehouse_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The dbt beside this interpreter (the venv's), so dbt runs without an activated venv."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"


class VenvDbtCliResource(DbtCliResource):
    """dagster-dbt's CLI resource without two costs every dbt command paid before dbt began.
    It is told dbt's version when dbt is the venv's own: the stock one asks by running
    `dbt --version` once per resource, so once per warehouse run (4 to 6 s, that process
    imports dbt). And it makes no dbt adapter in this process: dagster-dbt's adapter serves
    only the row-count and column-metadata fetches, which our builds never ask for, and making
    it loaded every dbt macro (about 2 s a command)."""

    @cached_property
    def _cli_version(self) -> Version:
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return Version(installed_version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def dbt_resource() -> DbtCliResource:
    """The dbt CLI resource: the project and its profiles.yml, both in the repository."""
    return VenvDbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
    )


def _seed_roots(nodes: dict) -> set[str]:
    return {n.get("root_path") for n in nodes.values() if n.get("resource_type") == "seed"}


def _made_here(roots: set[str]) -> bool:
    return roots <= {str(DBT_PROJECT_DIR)}


def discard_foreign_partial_parse(target_path: Path) -> bool:
    """Delete `target_path`'s partial-parse file if it was made for another project root, so
    dbt parses afresh instead of loading seeds from a path that does not resolve. True if it
    deleted one."""
    path = Path(target_path) / PARTIAL_PARSE
    if not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            saved = msgpack.unpack(f, raw=False, strict_map_key=False)
        foreign = not _made_here(_seed_roots(saved.get("nodes", {})))
    except (ValueError, msgpack.UnpackException):  # unreadable: dbt would discard it too
        foreign = True
    if foreign:
        path.unlink(missing_ok=True)
    return foreign


def seed_partial_parse(target_path: Path) -> None:
    """Give `target_path` the project's partial-parse file, stamped with the profile checksum
    of this invocation's environment (`_profile_checksum`), readable by this user only.

    dbt parses the whole project again when the profile's checksum differs from the one the
    file was made under, and a home's profile differs from the project's only by the home's
    paths, which nothing parsed holds: stamped, a new home's first build reuses the parse
    (seconds of CPU). dagster-dbt would seed the file with `shutil.copy`, which keeps the
    project copy's 0644 mode, and dbt rewrites the file in place, so that mode would stay in
    the home for good."""
    source = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE
    path = Path(target_path) / PARTIAL_PARSE
    if not path.exists() and source.is_file():
        saved = msgpack.unpackb(source.read_bytes(), raw=False, strict_map_key=False)
        checksum = _profile_checksum()
        if checksum is not None:
            saved["state_check"]["profile_hash"]["checksum"] = checksum
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(msgpack.packb(saved))
    if path.exists():
        os.chmod(path, 0o600)


def _profile_checksum() -> str | None:
    """dbt's checksum of the warehouse profile's connection as the environment renders it now
    (what dbt compares before reusing a partial parse); None when dbt cannot render it, which
    dbt itself reports when it runs."""
    import pprint
    from argparse import Namespace

    from dbt.config.runtime import load_profile
    from dbt.contracts.files import FileHash
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    try:
        set_invocation_context(dict(os.environ))
        set_from_args(Namespace(profiles_dir=str(DBT_PROJECT_DIR)), None)
        profile = load_profile(str(DBT_PROJECT_DIR), {}, None, None)
    except Exception:  # a bad profile: dbt says what is wrong when it runs
        return None
    connection = sorted(profile.credentials.connection_info())
    return FileHash.from_contents(pprint.pformat(connection)).checksum


def _manifest_made_here(manifest: Path) -> bool:
    try:
        return _made_here(_seed_roots(json.loads(manifest.read_text())["nodes"]))
    except (ValueError, KeyError):
        return False


def _parse(project: DbtProject) -> None:
    target = project.project_dir / project.target_path
    discard_foreign_partial_parse(target)
    dbt_resource().cli(["parse", "--quiet"], target_path=target).wait()


def _newest_source(project_dir: Path) -> float:
    newest = 0.0
    for name in _SOURCES:
        path = project_dir / name
        files = [path] if path.is_file() else path.rglob("*") if path.is_dir() else []
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def prepared_manifest(project: DbtProject = warehouse_project) -> Path:
    """The manifest path, after running `dbt parse` if it is missing, stale or made for another
    project root."""
    manifest = project.manifest_path
    if (
        not manifest.exists()
        or manifest.stat().st_mtime < _newest_source(project.project_dir)
        or not _manifest_made_here(manifest)
    ):
        # Two processes loading at once (pytest workers) must not both write the manifest.
        run_with_concurrent_update_guard(manifest, _parse, project=project)
    return manifest


if __name__ == "__main__":
    print(prepared_manifest())
