"""The company domain's Definitions: every dataset file of the package's `defs/` folder loaded
as Dagster components (one `defs.yaml` each), with a clear error naming a malformed file, and
the datasets of the home's own folder beside them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import dagster as dg
from dagster.components.core.load_defs import load_defs

from market_spine.settings import Settings


def load_folder(folder: Path) -> dg.Definitions:
    """The definitions of every company dataset under `folder`. Every file is validated first,
    so malformed ones fail together in one error naming each path, key and fix rather than a
    Dagster stack trace; a drop folder must lie inside `folder`."""
    from market_spine.company.home_defs import folder_problems, refusal

    problems = folder_problems(folder)
    if problems:
        raise refusal(problems, folder)
    module_name = _module_of(folder)
    if module_name is not None:
        module = importlib.import_module(module_name)
    else:
        spec = importlib.util.spec_from_file_location(
            f"company_defs_{abs(hash(folder))}", folder / "__init__.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return load_defs(module, project_root=folder.parent)


def _module_of(folder: Path) -> str | None:
    package = Path(__file__).parent / "defs"
    return "market_spine.company.defs" if folder.resolve() == package.resolve() else None


def build_definitions(settings: Settings) -> dg.Definitions:
    """The company datasets the package declares (the synthetic company's by default) and
    those of the home's own folder (`<home>/company/defs/`). A file there that does not load
    fails them all (CompanyDefsInvalid naming every problem of every file), so the code
    location shows it and no dataset silently disappears."""
    from market_spine.company.assets import build_assets
    from market_spine.company.catalog import DEFS_FOLDER
    from market_spine.company.home_defs import use_home

    package = load_folder(DEFS_FOLDER)
    home = use_home(settings.home, strict=True)
    return dg.Definitions.merge(package, *(build_assets(d.config, d.folder) for d in home.declared))
