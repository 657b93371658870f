"""The Helm values validate against the chart's values schema (with the Kubernetes objects inside
them checked against the Kubernetes schemas), name classes and modules that load, and set the
concurrency pools to the providers' limits for every pool an asset uses."""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path
from typing import Any

import dagster as dg
import jsonschema
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from market_spine.config.profiles import instance_file
from market_spine.providers.thetadata import TIER_CONCURRENCY
from market_spine.settings import Settings
from market_spine_tests.deploy.kit import (
    DEPLOY,
    KUBERNETES_DEFINITIONS,
    chart_instance,
    documents,
    find,
    kubernetes_definitions,
    manifests,
)

VALUES = DEPLOY / "helm" / "values.yaml"
#: The chart's schema for the keys we set, written from the chart's own `values.schema.json`:
#: that file is published with the chart only, in no package registry the suite installs from
#: (`dagster-k8s` on PyPI does not ship it; neither PyPI nor npm has the chart).
SCHEMA = DEPLOY / "helm" / "chart-values.schema.json"


def validator() -> jsonschema.Draft202012Validator:
    """The chart's schema, its Kubernetes names resolved to the Kubernetes definitions."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    for name in schema["$defs"]["k8s"]:
        ref = f"{KUBERNETES_DEFINITIONS}#/$defs/io.k8s.api.core.v1.{name}"
        schema["$defs"]["k8s"][name] = {"$ref": ref}
    return jsonschema.Draft202012Validator(schema, registry=kubernetes_definitions())


def values() -> dict[str, Any]:
    [doc] = documents(VALUES)
    return doc


def test_the_values_match_the_charts_schema() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(values())]
    assert errors == []


@pytest.mark.parametrize(
    "path, value",
    [
        (("runLauncher", "config", "k8sRunLauncher", "envSecret"), []),  # misspelt key
        (("dagsterDaemon", "resources", "limits", "cpu"), {"cores": 2}),  # not a quantity
        (("dagsterDaemon", "runCoordinator", "type"), "FastRunCoordinator"),
        (("dagster-user-deployments", "deployments", 0, "port"), "3030"),
    ],
)
def test_a_wrong_value_is_refused(path: tuple[Any, ...], value: Any) -> None:
    broken = copy.deepcopy(values())
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert list(validator().iter_errors(broken)), f"{path} = {value!r} was accepted"


def test_the_launcher_runs_on_kubernetes_with_the_code_servers_image() -> None:
    v = values()
    assert v["runLauncher"]["type"] == "K8sRunLauncher"
    [deployment] = v["dagster-user-deployments"]["deployments"]
    # The code location the values serve is the one the UI and the daemon load here.
    args = deployment["dagsterApiGrpcArgs"]
    module = importlib.import_module(args[args.index("-m") + 1])
    assert callable(getattr(module, "defs", None)), f"{module.__name__} has no definitions"
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    images = {
        (part["image"]["repository"], part["image"]["tag"])
        for part in (deployment, v["dagsterWebserver"], v["dagsterDaemon"])
    }
    assert len(images) == 1, f"one image serves every part, not {images}"
    assert v["postgresql"]["enabled"] is False and v["global"]["postgresqlSecretName"]
    assert v["generatePostgresqlPasswordSecret"] is False


def test_the_secrets_and_volumes_the_values_name_are_in_the_manifests() -> None:
    v = values()
    objects = manifests()
    launcher = v["runLauncher"]["config"]["k8sRunLauncher"]
    [deployment] = v["dagster-user-deployments"]["deployments"]
    for part in (launcher, deployment, v["dagsterDaemon"], v["dagsterWebserver"]):
        for source in part.get("envSecrets", []):
            find(objects, "Secret", source["name"])
        for source in part.get("envConfigMaps", []):
            find(objects, "ConfigMap", source["name"])
        for volume in part.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                find(objects, "PersistentVolumeClaim", claim)
    secret = find(objects, "Secret", v["global"]["postgresqlSecretName"])
    assert "postgresql-password" in secret["stringData"]


def test_the_coordinator_loads_with_its_config() -> None:
    coordinator = values()["dagsterDaemon"]["runCoordinator"]["config"]["customRunCoordinator"]
    cls = getattr(importlib.import_module(coordinator["module"]), coordinator["class"])
    result = process_config(cls.config_type(), coordinator["config"])
    assert result.success, result.errors


def test_monitoring_and_retries_are_on() -> None:
    daemon = values()["dagsterDaemon"]
    assert daemon["runMonitoring"]["enabled"] is True
    # A killed run pod must give its pool slot back, or the next capture waits forever.
    assert daemon["runMonitoring"]["freeSlotsAfterRunEndSeconds"] > 0
    assert daemon["runRetries"]["enabled"] is True and daemon["runRetries"]["maxRetries"] >= 1


def test_run_monitoring_is_the_same_on_kubernetes_and_on_a_single_host() -> None:
    """The chart renders its own run_monitoring into the pods' instance; the prod profile's
    dagster.yaml is the single host's (compose). Both watch the same runs of one deployment,
    so a run that dies is failed, and gives its pool slots back, after the same time."""
    rendered = chart_instance(values())["run_monitoring"]
    prod = yaml.safe_load(instance_file("prod").read_text())["run_monitoring"]
    assert prod == rendered


def test_the_pods_instance_reaches_postgres_over_tls_only() -> None:
    from market_spine.config.profile_check import TLS_SSLMODES, postgres_sslmode

    rendered = chart_instance(values())
    for part in ("run_storage", "event_log_storage", "schedule_storage"):
        assert postgres_sslmode(rendered[part]["config"]) in TLS_SSLMODES, part


def pools_of(settings: Settings) -> set[str]:
    """Every concurrency pool an asset of the home's definitions uses."""
    from market_spine.definitions import build_definitions

    repo = build_definitions(settings).get_repository_def()
    found: set[str] = set()
    for asset in repo.assets_defs_by_key.values():
        for spec in asset.node_def.iterate_op_defs() if asset.is_executable else ():
            if spec.pool:
                found.add(spec.pool)
    return found


def test_every_pool_has_the_providers_limit(tmp_path: Path) -> None:
    v = values()
    # No pool has a limit of its own: every one takes the rendered default.
    limit = chart_instance(v)["concurrency"]["pools"]["default_limit"]
    used = pools_of(Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path)}))
    # The providers' limits: ThetaData's tier, IB's pacing, DuckDB's single writer.
    assert used == {"thetadata", "ib", "duckdb_warehouse"}
    assert limit == 1
    # One capture step at a time, each keeping its tier's requests in flight: the account
    # sees exactly its tier.
    [deployment] = v["dagster-user-deployments"]["deployments"]
    tier = deployment["env"]["MARKET_SPINE_THETADATA_TIER"]
    assert limit * TIER_CONCURRENCY[tier] == TIER_CONCURRENCY[tier]


def _opened(instance_yaml: dict[str, Any], folder: Path) -> dg.DagsterInstance:
    """A real instance of `instance_yaml` in `folder`, its PostgreSQL storage swapped for
    SQLite there (the rest as rendered)."""
    swapped = {
        k: v
        for k, v in instance_yaml.items()
        if k not in ("storage", "run_storage", "event_log_storage", "schedule_storage")
    }
    swapped["storage"] = {"sqlite": {"base_dir": str(folder)}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(yaml.safe_dump(swapped))
    return dg.DagsterInstance.from_config(str(folder))


def _limits(instance: dg.DagsterInstance) -> tuple[Any, ...]:
    """What the instance enforces: the pools' default limit, runs at once, runs per tag, the
    runs dequeued ahead of a free pool slot, and whether a run waiting on a pool stays queued."""
    config = instance.get_concurrency_config()
    queue = config.run_queue_config
    assert queue is not None
    return (
        config.pool_config.default_pool_limit,
        queue.max_concurrent_runs,
        [dict(t) for t in queue.tag_concurrency_limits],
        config.pool_config.op_granularity_run_buffer,
        queue.should_block_op_concurrency_limited_runs,
    )


def test_the_charts_concurrency_is_rendered_into_the_instance_the_pods_open(
    tmp_path: Path,
) -> None:
    rendered = chart_instance(values())
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(rendered))
    dagster_instance_config(str(tmp_path))  # valid as Dagster reads it
    with _opened(rendered, tmp_path / "chart") as instance:
        assert type(instance.run_coordinator).__name__ == "SpineRunCoordinator"
        assert _limits(instance) == (
            1,
            8,
            [{"key": "market_spine/provider", "value": "ib", "limit": 1}],
            0,
            True,
        )
        assert instance.get_concurrency_config().pool_config.op_granularity_run_buffer == 0
    # The single-host deployment (the prod profile's instance) enforces the same limits.
    prod = yaml.safe_load(instance_file("prod").read_text())
    with (
        _opened(prod, tmp_path / "prod") as single_host,
        _opened(rendered, tmp_path / "again") as chart,
    ):
        assert _limits(single_host) == _limits(chart)


def test_one_value_changes_the_limit_every_pod_enforces(tmp_path: Path) -> None:
    changed = copy.deepcopy(values())
    changed["concurrency"]["runs"]["maxConcurrentRuns"] = 3
    changed["concurrency"]["pools"]["defaultLimit"] = 2
    with _opened(chart_instance(changed), tmp_path) as instance:
        assert _limits(instance)[:2] == (2, 3)
    # The coordinator's config holds no limit of its own that could disagree.
    coordinator = changed["dagsterDaemon"]["runCoordinator"]["config"]["customRunCoordinator"]
    assert not {"max_concurrent_runs", "tag_concurrency_limits"} & set(coordinator["config"])


def test_the_chart_renders_no_concurrency_unless_enabled() -> None:
    changed = copy.deepcopy(values())
    changed["concurrency"]["enabled"] = False
    assert "concurrency" not in chart_instance(changed)
