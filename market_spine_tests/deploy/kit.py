"""Reading the deployment files the way their tools would, offline: YAML documents, and the
Kubernetes schemas `kubernetes-validate` ships."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from referencing import Registry, Resource

from market_spine_tests.kit.homes import REPO

DEPLOY = REPO / "deploy"
#: The Kubernetes version the manifests are validated for (one `kubernetes-validate` ships).
KUBERNETES = "1.33.0"
#: The id the Kubernetes definitions are referenced by.
KUBERNETES_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"


def documents(path: Path) -> list[dict[str, Any]]:
    """Every YAML document of a file (empty ones dropped)."""
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def manifests() -> list[dict[str, Any]]:
    """Every object of deploy/k8s/."""
    return [d for f in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in documents(f)]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The object of `kind` named `name`; AssertionError naming what is there otherwise."""
    for o in objects:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    names = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    raise AssertionError(f"no {kind}/{name} among {names}")


@cache
def kubernetes_definitions() -> Registry:
    """A schema registry holding the definitions of every Kubernetes type (strict: no unknown
    fields), under their own id (`KUBERNETES_DEFINITIONS`)."""
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = root / f"v{KUBERNETES}-local-strict" / "_definitions.json"
    definitions = json.loads(path.read_text(encoding="utf-8"))
    assert definitions["$id"] == KUBERNETES_DEFINITIONS
    return Resource.from_contents(definitions) @ Registry()


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    """`target[key] = value` unless the value is unset (None), as the chart's `kindIs "invalid"`
    tests skip it."""
    if value is not None:
        target[key] = value


def chart_concurrency(values: dict[str, Any]) -> dict[str, Any] | None:
    """The `concurrency` section the chart renders from its top-level `concurrency` values (None
    when not enabled): pools (default_limit, granularity, op_granularity_run_buffer) and runs
    (max_concurrent_runs, tag_concurrency_limits), each key only when set."""
    given = values.get("concurrency") or {}
    if not given.get("enabled"):
        return None
    pools_in, runs_in = given.get("pools") or {}, given.get("runs") or {}
    pools: dict[str, Any] = {}
    _set(pools, "default_limit", pools_in.get("defaultLimit"))
    _set(pools, "granularity", pools_in.get("granularity") or None)
    _set(pools, "op_granularity_run_buffer", pools_in.get("opGranularityRunBuffer"))
    runs: dict[str, Any] = {}
    _set(runs, "max_concurrent_runs", runs_in.get("maxConcurrentRuns"))
    limits = [
        {"key": t["key"], **({"value": t["value"]} if t.get("value") else {}), "limit": t["limit"]}
        for t in runs_in.get("tagConcurrencyLimits") or []
    ]
    if limits:
        runs["tag_concurrency_limits"] = limits
    return {**({"pools": pools} if pools else {}), **({"runs": runs} if runs else {})}


def chart_run_monitoring(monitoring: dict[str, Any]) -> dict[str, Any]:
    """The `run_monitoring` section the chart renders from `dagsterDaemon.runMonitoring`: the
    optional timeouts and resume attempts only when set."""
    rendered: dict[str, Any] = {
        "enabled": monitoring["enabled"],
        "start_timeout_seconds": monitoring["startTimeoutSeconds"],
    }
    _set(rendered, "cancel_timeout_seconds", monitoring.get("cancelTimeoutSeconds"))
    _set(rendered, "max_runtime_seconds", monitoring.get("maxRuntimeSeconds"))
    _set(rendered, "max_resume_run_attempts", monitoring.get("maxResumeRunAttempts"))
    rendered["poll_interval_seconds"] = monitoring["pollIntervalSeconds"]
    rendered["free_slots_after_run_end_seconds"] = monitoring["freeSlotsAfterRunEndSeconds"]
    return rendered


def chart_instance(values: dict[str, Any]) -> dict[str, Any]:
    """The dagster.yaml the chart renders into its instance ConfigMap from `values`, for the
    sections our values set, key for key as the chart's templates write them: PostgreSQL
    storage, the custom run coordinator, concurrency, run monitoring and retries, telemetry,
    retention, then the additional instance config."""
    pg = values["postgresql"]
    postgres_db = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams") or {},
    }
    storage = {"postgres_db": postgres_db}
    daemon = values["dagsterDaemon"]
    custom = daemon["runCoordinator"]["config"]["customRunCoordinator"]
    monitoring = daemon["runMonitoring"]
    instance: dict[str, Any] = {
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": storage,
        },
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": storage,
        },
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": storage,
        },
        "run_coordinator": {
            "module": custom["module"],
            "class": custom["class"],
            "config": custom["config"],
        },
        "run_monitoring": chart_run_monitoring(monitoring),
        "run_retries": {"enabled": True, "max_retries": daemon["runRetries"]["maxRetries"]},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    concurrency = chart_concurrency(values)
    if concurrency is not None:
        instance["concurrency"] = concurrency
    extra = values.get("additionalInstanceConfig") or {}
    clash = set(extra) & set(instance)
    assert not clash, f"additionalInstanceConfig repeats {sorted(clash)}, which the chart renders"
    return instance | extra


def secret_files(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> dict[str, tuple]:
    """The files the secret volumes of a pod put in its container: path -> (Secret, key), from
    `secret` and `projected` volumes (their items, or every key when none are listed)."""
    by_name = {v["name"]: v for v in volumes}
    objects = manifests()
    found: dict[str, tuple] = {}
    for mount in mounts:
        volume = by_name[mount["name"]]
        if "secret" in volume:
            sources = [{"secret": {**volume["secret"], "name": volume["secret"]["secretName"]}}]
        else:
            sources = (volume.get("projected") or {}).get("sources", [])
        for source in sources:
            if "secret" not in source:
                continue
            secret = source["secret"]
            held = find(objects, "Secret", secret["name"]).get("stringData", {})
            items = secret.get("items") or [{"key": k, "path": k} for k in held]
            for item in items:
                if "subPath" in mount:
                    if mount["subPath"] == item["path"]:
                        found[mount["mountPath"]] = (secret["name"], item["key"])
                else:
                    found[f"{mount['mountPath']}/{item['path']}"] = (secret["name"], item["key"])
    return found


def mounted(env: dict[str, str], files: dict[str, tuple], folder: Path) -> dict[str, str]:
    """`env` with its secret files written in `folder` (each holding the example Secret's
    value) and every variable naming one pointed there instead."""
    objects = manifests()
    folder.mkdir(parents=True, exist_ok=True)
    moved: dict[str, str] = {}
    for i, (path, (secret, key)) in enumerate(sorted(files.items())):
        local = folder / f"{i}-{Path(path).name}"
        local.write_text(find(objects, "Secret", secret)["stringData"][key])
        moved[path] = str(local)
    return {k: moved.get(v, v) for k, v in env.items()}


#: The Deployments of deploy/k8s that run Market Spine; the chart runs the rest.
SPINE_DEPLOYMENTS = ("market-spine-api", "market-spine-streamer")


def deployment_pods(objects: list[dict[str, Any]]) -> dict[str, tuple[dict, dict]]:
    """Each Market Spine Deployment's pod spec and its one container, by `k8s/<name>`."""
    found = {}
    for name in SPINE_DEPLOYMENTS:
        spec = find(objects, "Deployment", name)["spec"]["template"]["spec"]
        [container] = spec["containers"]
        found[f"k8s/{name}"] = (spec, container)
    return found


def chart_parts(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The parts of the chart's values that run Market Spine, by `helm/<part>`: the code
    server, run pods (the launcher's settings), the webserver and the daemon."""
    [code] = values["dagster-user-deployments"]["deployments"]
    return {
        "helm/code-server": code,
        "helm/run": values["runLauncher"]["config"]["k8sRunLauncher"],
        "helm/webserver": values["dagsterWebserver"],
        "helm/daemon": values["dagsterDaemon"],
    }
