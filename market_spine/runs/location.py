"""The code location every run belongs to: the one the profile's workspace.yaml names
(`deploy/profiles/<profile>/workspace.yaml`), which the Dagster UI and daemon load too. The CLI
loads it in its own process, so its runs carry the same remote origin as runs launched from the
UI: the UI can re-execute them and the daemon can retry them."""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.remote_representation.code_location import CodeLocation, InProcessCodeLocation
from dagster._core.remote_representation.external import RemoteJob
from dagster._core.snap.execution_plan_snapshot import ExecutionPlanSnapshot
from dagster._core.workspace.load import location_origins_from_yaml_paths

from market_spine.config.profiles import workspace_file
from market_spine.settings import Settings

_loaded: tuple[dg.DagsterInstance, object, CodeLocation] | None = None
#: Execution plans made by each loaded location, by job snapshot and run config.
_plans: weakref.WeakKeyDictionary[CodeLocation, dict[tuple[str, str], ExecutionPlanSnapshot]] = (
    weakref.WeakKeyDictionary()
)


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
    """The loaded code location, kept for this process's later runs on the same instance while
    the home's definitions are unchanged (loading it builds every definition: seconds, not
    something to repeat per run)."""
    global _loaded
    fingerprint = _fingerprint()
    if _loaded is None or _loaded[0] is not instance or _loaded[1] != fingerprint:
        location = InProcessCodeLocation(location_origin(), instance=instance)
        _loaded = (instance, fingerprint, location)
    return _loaded[2]


def execution_plan(
    location: CodeLocation,
    job: RemoteJob,
    run_config: Mapping[str, object],
    instance: dg.DagsterInstance,
) -> ExecutionPlanSnapshot:
    """The execution plan of every step of `job` under `run_config`, as runs are created with
    it. Made once per location, job and config: a backfill's runs differ only in their
    partition range, which is a tag, not part of the plan."""
    made = _plans.setdefault(location, {})
    key = (job.identifying_job_snapshot_id, json.dumps(run_config, sort_keys=True, default=repr))
    if key not in made:
        made[key] = location.get_execution_plan(
            job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
        ).execution_plan_snapshot
    return made[key]


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


def _fingerprint() -> object:
    from market_spine.definitions import definitions_fingerprint

    return definitions_fingerprint(Settings.from_env())


_built_for: object = None


def definitions_for_this_environment() -> None:
    """Make the next run's job definition come from the environment's home as it is now.

    Dagster keeps the last job it rebuilt from a code origin, keyed by the origin alone; a
    process that runs for a second home (or after the home's instruments file or company
    datasets changed) would otherwise execute the first home's job, whose partitions lack the
    new roots. Rebuilding costs seconds, so it happens only when the home's definitions
    fingerprint changed."""
    global _built_for
    key = _fingerprint()
    if key != _built_for:
        ReconstructableJob.get_definition.cache_clear()
        ReconstructableJob.get_repository_definition.cache_clear()
        _built_for = key
