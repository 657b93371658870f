"""The one place that sees every domain: each domain's Definitions merged, with the resources they
share (the lake and the market-data providers)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dagster as dg


def silence_dagster_previews() -> None:
    """Hide Dagster's BetaWarning/PreviewWarning: we pin the version and own those choices
    knowingly, so the warnings left are ones that need action."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)


# Before the domains load: their asset decorators are where the preview warnings are raised.
silence_dagster_previews()

from market_spine.company import definitions as company  # noqa: E402
from market_spine.futures import definitions as futures  # noqa: E402
from market_spine.lake.resource import LakeResource  # noqa: E402
from market_spine.operations import definitions as operations  # noqa: E402
from market_spine.options import definitions as options  # noqa: E402
from market_spine.providers.resource import MarketDataResource  # noqa: E402
from market_spine.runs.console_logger import run_console_logger  # noqa: E402
from market_spine.runs.metered_executor import metered_executor  # noqa: E402
from market_spine.settings import Settings  # noqa: E402
from market_spine.warehouse import definitions as warehouse  # noqa: E402

DOMAINS = {
    "futures": futures,
    "options": options,
    "warehouse": warehouse,
    "operations": operations,
    "company": company,
}


def shared_resources(settings: Settings) -> dict[str, object]:
    """The resources every domain uses for a home: the lake and the market-data providers."""
    return {
        "lake": LakeResource(root=settings.lake_location),
        "market": MarketDataResource.from_settings(settings),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    """Definitions for one home; tests build their own with a temporary home. Every job
    executes with the metered executor, so every run records its usage however launched."""
    return dg.Definitions.merge(
        *(module.build_definitions(settings) for module in DOMAINS.values()),
        dg.Definitions(
            resources=shared_resources(settings),
            loggers={"console": run_console_logger},
            executor=metered_executor,
        ),
    )


Fingerprint = tuple[object, ...]


def _file_state(path: Path | None) -> tuple[str, int, int] | None:
    """A file's path, modification time and size; None when there is no file."""
    if path is None or not path.is_file():
        return None
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


def definitions_fingerprint(settings: Settings) -> Fingerprint:
    """What a home's definitions are built from, beyond the package: its settings, its
    instruments file and the files of its own company dataset folder (each file's path, time
    and size). Equal fingerprints build equal definitions."""
    from market_spine.company.home_defs import declaration_files

    company = tuple(_file_state(p) for p in declaration_files(settings.home))
    return settings, _file_state(settings.instruments_path), company


_built: tuple[Fingerprint, dg.Definitions] | None = None


@dg.definitions
def defs() -> dg.Definitions:
    """The code location's definitions, built from the environment's settings when loaded.
    The processes that load them (code server, run workers), however started, write the home's
    files readable by its user only, as the CLI's do.

    Dagster loads them afresh for the code location, for each execution plan and for each run
    it executes in this process, seconds each; the ones built last are reused while the home's
    fingerprint (`definitions_fingerprint`) is unchanged, so a process loads them once."""
    global _built
    os.umask(0o077)
    settings = Settings.from_env()
    fingerprint = definitions_fingerprint(settings)
    if _built is None or _built[0] != fingerprint:
        _built = (fingerprint, build_definitions(settings))
    return _built[1]
