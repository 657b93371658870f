"""Company datasets a home declares itself: YAML files in `<home>/company/defs/`, read beside
the package's own, so an owner adds a dataset without changing the package.

A file there is either `<dataset>/defs.yaml` (or `defs.yml`; the package's layout, its drop
folder beside it) or a `*.yaml` (or `*.yml`) file directly in the folder (paths in it
relative to the folder). What loads the definitions (the code location, `process`, `up`)
refuses a folder holding a file that does not load, naming every problem of every file
(`require_home`): a dataset never vanishes silently.
Readers (the API, Spine, the catalog) serve the datasets that load and warn about the others.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from market_spine.company.catalog import DEFS_FOLDER, configs, register
from market_spine.company.config import (
    DEFS_FILE,
    DatasetConfig,
    FilesSource,
    dataset_files,
    load,
)
from market_spine.company.tenancy import TenantColumnWarning, undeclared_tenant
from market_spine.errors import InvalidInput, OperatorWarning
from market_spine.settings import HOME_COMPANY_DEFS

#: The problems this process has already warned about: the CLI, the API and Spine each read
#: the home, and one broken file is one warning.
_WARNED: set[str] = set()


class CompanyDefsWarning(OperatorWarning):
    """A home's company dataset file that was left out, and why."""


@dataclass(frozen=True)
class Declared:
    """One dataset: its declaration, its file and the folder its relative paths start from."""

    config: DatasetConfig
    path: Path

    @property
    def folder(self) -> Path:
        """The folder a `files` source's `path` is relative to."""
        return self.path.parent


def missing_drop(declared: Declared) -> str | None:
    """The warning for a `files` dataset whose drop folder does not exist (None otherwise):
    its first run would fail, so `company validate` says so before any run."""
    source = declared.config.source
    if not isinstance(source, FilesSource):
        return None
    drop = source.drop(declared.folder)
    if drop.is_dir():
        return None
    return (
        f"{declared.path}: the drop folder {drop} of {declared.config.name} does not exist: "
        "create it (its files are captured at the next run) or fix `source.path`, relative "
        "to the dataset's file"
    )


@dataclass(frozen=True)
class HomeDatasets:
    """What a home's folder declares: the valid datasets, and one message per file left out."""

    folder: Path
    declared: tuple[Declared, ...]
    problems: tuple[str, ...]


def home_folder(home: Path) -> Path:
    """`<home>/company/defs`: the folder of a home's own company datasets."""
    return Path(home) / HOME_COMPANY_DEFS


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    loose = [p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")]
    return [*dataset_files(folder), *sorted(loose)]


def declaration_files(home: Path) -> list[Path]:
    """The files of the home's folder that may declare a dataset (`read_home` reads them)."""
    return _files(home_folder(home))


def read_home(home: Path) -> HomeDatasets:
    """Every valid dataset of the home's folder (none when it has no folder). A file that is
    invalid, or declares a name the package or an earlier file already holds, is left out and
    named in `problems` with the key at fault and the fix. A drop folder must lie inside
    the home."""
    folder = home_folder(home)
    taken = {c.name: DEFS_FOLDER / c.name / DEFS_FILE for c in configs()}
    declared: list[Declared] = []
    problems: list[str] = []
    for path in _files(folder):
        try:
            config = load(path, home)
        except InvalidInput as exc:
            problems.append(str(exc))
            continue
        if config.name in taken:
            problems.append(
                f"{path}: key `attributes.name` {config.name!r} is already declared by "
                f"{taken[config.name]}; give this dataset another name"
            )
            continue
        taken[config.name] = path
        declared.append(Declared(config, path))
    return HomeDatasets(folder, tuple(declared), tuple(problems))


class CompanyDefsInvalid(InvalidInput):
    """Company dataset files of a home that do not load: each file, key path and fix."""


#: How an owner sees every problem of every company dataset file at once.
VALIDATE_COMMAND = "market-spine company validate"


def refusal(problems: tuple[str, ...] | list[str], folder: Path) -> CompanyDefsInvalid:
    """The one error naming every problem of the company dataset files of `folder` (each of
    `problems` is one file's, a line per problem)."""
    count = f"{len(problems)} file{'s' if len(problems) > 1 else ''}"
    lines = [f"  {line}" for problem in problems for line in problem.splitlines()]
    return CompanyDefsInvalid(
        f"company dataset files in {folder} do not load ({count}); fix each problem (or move "
        f"the file out of the folder) and rerun; `{VALIDATE_COMMAND}` checks them all:\n"
        + "\n".join(lines)
    )


def folder_problems(folder: Path) -> list[str]:
    """Every problem of every `<dataset>/defs.yaml` under `folder` (a drop folder must lie
    inside it), each naming its file, key path and fix."""
    problems = []
    for path in dataset_files(folder):
        try:
            load(path, folder)
        except InvalidInput as exc:
            problems.append(str(exc))
    return problems


def require_declarations(home: Path) -> HomeDatasets:
    """The home's datasets when every company dataset file loads, the package's and the
    home's; CompanyDefsInvalid naming every problem of every file otherwise. Commands that
    load the definitions call it first, so they fail before any run with the whole list."""
    problems = folder_problems(DEFS_FOLDER)
    if problems:
        raise refusal(problems, DEFS_FOLDER)
    return require_home(home)


def require_home(home: Path) -> HomeDatasets:
    """The home's datasets when every file of its folder loads; CompanyDefsInvalid naming
    every problem of every file otherwise."""
    found = read_home(home)
    if found.problems:
        raise refusal(found.problems, found.folder)
    return found


def use_home(home: Path, *, strict: bool = False) -> HomeDatasets:
    """Read the home's datasets, add them to this process's catalog and warn
    (CompanyDefsWarning) about each file left out, once per process and problem; with
    `strict`, a file left out is CompanyDefsInvalid instead (see `require_home`)."""
    found = require_home(home) if strict else read_home(home)
    for problem in found.problems:
        if problem in _WARNED:
            continue
        _WARNED.add(problem)
        warnings.warn(f"company dataset file left out: {problem}", CompanyDefsWarning, stacklevel=2)
    for declared in found.declared:
        unsplit = undeclared_tenant(declared.config, declared.path)
        if unsplit is not None and unsplit not in _WARNED:
            _WARNED.add(unsplit)
            warnings.warn(unsplit, TenantColumnWarning, stacklevel=2)
    register(d.config for d in found.declared)
    return found


def all_configs(home: Path) -> list[DatasetConfig]:
    """The package's datasets and the valid ones of the home's folder."""
    return [*configs(), *(d.config for d in read_home(home).declared)]


def all_declared(home: Path) -> list[Declared]:
    """The package's datasets and the valid ones of the home's folder, each with its file."""
    package = [Declared(load(path, DEFS_FOLDER), path) for path in dataset_files(DEFS_FOLDER)]
    return [*package, *read_home(home).declared]
