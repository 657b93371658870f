"""Every process a deployment file starts under a profile (compose services, the Kubernetes API
and streamer, the Helm chart's code server and its run pods) gets what that profile needs: every
`{env: NAME}` its dagster.yaml reads, and a lake on object storage, never on the home's volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from market_spine.config.file import FILE_SUFFIX
from market_spine.config.profile_check import env_references
from market_spine.config.profiles import instance_file
from market_spine.settings import Settings
from market_spine_tests.deploy.kit import find, manifests
from market_spine_tests.deploy.test_compose import PLATFORM, compose, environment
from market_spine_tests.deploy.test_helm_values import values

#: Stands for a value a Secret, a secret file or a variable holds that the files cannot show (a
#: password; `user:password` where a setting wants the pair; a key long enough to be one).
GIVEN = "user:given-" + "0" * 32


def _sources(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, str]:
    found = find(objects, kind, name)
    return dict(found.get("stringData") or found.get("data") or {})


def kubernetes_env(container: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, str]:
    """The variables a manifest's container gets: its env (secret references resolved) over its
    envFrom ConfigMaps and Secrets."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= _sources(objects, "ConfigMap", source["configMapRef"]["name"])
        else:
            env |= _sources(objects, "Secret", source["secretRef"]["name"])
    for var in container.get("env", []):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        env[var["name"]] = (
            _sources(objects, "Secret", ref["name"])[ref["key"]] if ref else var["value"]
        )
    return env


def helm_env(part: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, str]:
    """The variables a part of the Helm values gets: envConfigMaps, envSecrets, then env (a
    mapping or a list of EnvVar) or the launcher's envVars (`NAME=value`)."""
    env: dict[str, str] = {}
    for source in part.get("envConfigMaps", []):
        env |= _sources(objects, "ConfigMap", source["name"])
    for source in part.get("envSecrets", []):
        env |= _sources(objects, "Secret", source["name"])
    given = part.get("env") or {}
    if isinstance(given, list):
        given = {v["name"]: v.get("value", GIVEN) for v in given}
    env |= {k: str(v) for k, v in given.items()}
    for pair in part.get("envVars", []):
        name, _, value = pair.partition("=")
        env[name] = value or GIVEN
    return _files_read(env)


def _files_read(env: dict[str, str]) -> dict[str, str]:
    """`env` as the settings read it: a variable read from a mounted secret file holds what
    that secret holds."""
    given = {k.removesuffix(FILE_SUFFIX): GIVEN for k in env if k.endswith(FILE_SUFFIX)}
    return {k: v for k, v in env.items() if not k.endswith(FILE_SUFFIX)} | given


#: What the chart itself gives the code server's and every run's pod: the instance's password
#: from `global.postgresqlSecretName` (the K8s run launcher's `postgres_password_secret`).
CHART_ENV = {"DAGSTER_PG_PASSWORD": GIVEN}


def platform_pods() -> dict[str, dict[str, str]]:
    """Every pod or service of the deployment files that runs Market Spine, with its variables."""
    objects = manifests()
    pods: dict[str, dict[str, str]] = {}
    services = compose()["services"]
    for name in PLATFORM:
        pods[f"compose/{name}"] = _files_read(environment(services[name]))
    for name in ("market-spine-api", "market-spine-streamer"):
        deployment = find(objects, "Deployment", name)
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        pods[f"k8s/{name}"] = _files_read(kubernetes_env(container, objects))
    v = values()
    [code] = v["dagster-user-deployments"]["deployments"]
    pods["helm/code-server"] = CHART_ENV | helm_env(code, objects)
    # A run pod gets the code server's settings (includeConfigInLaunchedRuns) and the launcher's.
    assert code["includeConfigInLaunchedRuns"]["enabled"] is True
    launcher = v["runLauncher"]["config"]["k8sRunLauncher"]
    pods["helm/run"] = pods["helm/code-server"] | helm_env(launcher, objects)
    return pods


@pytest.mark.parametrize("pod", sorted(platform_pods()))
def test_every_pod_gets_what_its_profiles_instance_reads(pod: str) -> None:
    env = platform_pods()[pod]
    profile = env.get("MARKET_SPINE_PROFILE", "")
    assert profile == "prod", f"{pod} runs profile {profile!r}"
    wanted = set(env_references(yaml.safe_load(instance_file(profile).read_text())))
    assert wanted, "the prod instance reads its database from the environment"
    assert wanted <= set(env), f"{pod} lacks {sorted(wanted - set(env))}"


@pytest.mark.parametrize("pod", sorted(platform_pods()))
def test_every_pod_keeps_the_lake_on_object_storage(pod: str, tmp_path: Path) -> None:
    env = platform_pods()[pod] | {"MARKET_SPINE_HOME": str(tmp_path)}
    settings = Settings.from_env(env)
    assert settings.lake_uri.startswith("s3://"), (
        f"{pod} keeps the lake in {settings.lake_location}"
    )
    options = settings.lake_options()
    assert options is not None and options.endpoint and options.region, pod


def test_the_prod_profile_alone_puts_the_lake_on_object_storage(tmp_path: Path) -> None:
    prod = Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path), "MARKET_SPINE_PROFILE": "prod"})
    assert prod.lake_uri.startswith("s3://")


def test_kubernetes_and_helm_name_the_same_database() -> None:
    platform = _sources(manifests(), "ConfigMap", "market-spine-platform")
    pg = values()["postgresql"]
    assert platform["DAGSTER_PG_HOST"] == pg["postgresqlHost"]
    assert platform["DAGSTER_PG_USERNAME"] == pg["postgresqlUsername"]
    assert platform["DAGSTER_PG_DB"] == pg["postgresqlDatabase"]
    assert int(platform["DAGSTER_PG_PORT"]) == pg["service"]["port"]
