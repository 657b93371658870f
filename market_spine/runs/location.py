"""The code location every run belongs to: the one the profile's workspace.yaml names
(`deploy/profiles/<profile>/workspace.yaml`), which the Dagster UI and daemon load too. The CLI
loads it in its own process, so its runs carry the same remote origin as runs launched from the
UI: the UI can re-execute them and the daemon can retry them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.remote_representation.code_location import CodeLocation, InProcessCodeLocation
from dagster._core.remote_representation.external import RemoteJob
from dagster._core.workspace.load import location_origins_from_yaml_paths

from market_spine.config.profiles import workspace_file
from market_spine.settings import Settings

_loaded: tuple[dg.DagsterInstance, CodeLocation] | None = None


def location_origin(workspace: Path | None = None) -> InProcessCodeLocationOrigin:
    """The single code location of `workspace` (default: the workspace of the environment's
    profile), loaded in this process under the same name (the name is what re-execution and
    retries look the location up by)."""
    if workspace is None:
        workspace = workspace_file(Settings.from_env().profile)
    origins = location_origins_from_yaml_paths([str(workspace)])
    if len(origins) != 1:
        raise ValueError(f"{workspace} must name exactly one code location, not {len(origins)}")
    [origin] = origins
    return InProcessCodeLocationOrigin(
        loadable_target_origin=origin.loadable_target_origin,  # type: ignore[attr-defined]
        location_name=origin.location_name,
    )


def code_location(instance: dg.DagsterInstance) -> CodeLocation:
    """The loaded code location, kept for this process's later runs on the same instance
    (loading it builds every definition: seconds, not something to repeat per run)."""
    global _loaded
    if _loaded is None or _loaded[0] is not instance:
        _loaded = (instance, InProcessCodeLocation(location_origin(), instance=instance))
    return _loaded[1]


def location_job(
    location: CodeLocation, job_name: str, selection: Sequence[dg.AssetKey] | None = None
) -> RemoteJob:
    """The job `job_name` of the location's one repository, over the assets of `selection`
    when given (None: the job's own assets), as runs are created from it."""
    [repo] = location.get_repositories().values()
    return location.get_job(
        JobSubsetSelector(
            location_name=location.name,
            repository_name=repo.name,
            job_name=job_name,
            op_selection=None,
            asset_selection=None if selection is None else list(selection),
        )
    )


_built_for: tuple[object, ...] | None = None


def definitions_for_this_environment() -> None:
    """Make the next run's job definition come from the environment's home as it is now.

    Dagster keeps the last job it rebuilt from a code origin, keyed by the origin alone; a
    process that runs for a second home (or after the home's instruments file changed) would
    otherwise execute the first home's job, whose partitions lack the new roots. Rebuilding costs
    seconds, so it happens only when the settings or the instruments file changed."""
    global _built_for
    settings = Settings.from_env()
    named = settings.instruments_path
    key = (settings, named, named.stat().st_mtime_ns if named and named.exists() else None)
    if key != _built_for:
        ReconstructableJob.get_definition.cache_clear()
        ReconstructableJob.get_repository_definition.cache_clear()
        _built_for = key
