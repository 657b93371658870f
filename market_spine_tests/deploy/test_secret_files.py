"""Secrets reach Market Spine's Kubernetes pods as files of secret volumes, read through the
`*_FILE` settings, never as environment variables (which every child process inherits and pod
descriptions show): the API, the streamer, the code server and each run pod."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from market_spine.config.file import FILE_SUFFIX
from market_spine.settings import Settings
from market_spine_tests.deploy.kit import (
    chart_parts,
    deployment_pods,
    find,
    manifests,
    mounted,
    secret_files,
)
from market_spine_tests.deploy.test_helm_values import values


def _env(given: Any) -> dict[str, str]:
    """A container's env (a list of EnvVar, or the chart's mapping) by name; a value from a
    Secret is a failure of its own (see `secret_references`)."""
    if isinstance(given, dict):
        return {k: str(v) for k, v in given.items()}
    return {e["name"]: e["value"] for e in given or [] if "value" in e}


def secret_references(part: dict[str, Any]) -> list[str]:
    """Every way a container or a part of the Helm values takes a Secret as environment."""
    found = [f"envSecrets {s['name']}" for s in part.get("envSecrets", [])]
    found += [
        f"envFrom {s['secretRef']['name']}" for s in part.get("envFrom", []) if "secretRef" in s
    ]
    env = part.get("env") or []
    if isinstance(env, list):
        found += [
            f"env {e['name']} from {e['valueFrom']['secretKeyRef']['name']}"
            for e in env
            if "secretKeyRef" in e.get("valueFrom", {})
        ]
    return found


def pods() -> dict[str, tuple[dict[str, str], dict[str, tuple]]]:
    """Every Market Spine pod of the files: its variables and the secret files mounted in it."""
    found: dict[str, tuple[dict[str, str], dict[str, tuple]]] = {}
    for name, (spec, container) in deployment_pods(manifests()).items():
        assert not secret_references(container), f"{name}: {secret_references(container)}"
        files = secret_files(spec["volumes"], container["volumeMounts"])
        found[name] = (_env(container.get("env")), files)
    parts = chart_parts(values())
    for name, part in parts.items():
        assert not secret_references(part), f"{name}: {secret_references(part)}"
        files = secret_files(part.get("volumes", []), part.get("volumeMounts", []))
        found[name] = (_env(part.get("env")), files)
    # A run pod gets the code server's env too (includeConfigInLaunchedRuns).
    run_env, run_files = found["helm/run"]
    found["helm/run"] = (_env(parts["helm/code-server"].get("env")) | run_env, run_files)
    return found


@pytest.mark.parametrize("pod", sorted(pods()))
def test_every_secret_file_a_pod_is_told_of_is_mounted(pod: str) -> None:
    env, files = pods()[pod]
    for variable, path in env.items():
        if variable.endswith(FILE_SUFFIX):
            assert path in files, f"{pod}: {variable}={path} is no mounted secret file"


@pytest.mark.parametrize(
    "pod", ["k8s/market-spine-api", "k8s/market-spine-streamer", "helm/code-server", "helm/run"]
)
def test_the_settings_read_the_lakes_keys_from_the_files(pod: str, tmp_path: Path) -> None:
    env, files = pods()[pod]
    env = mounted(env, files, tmp_path / "secrets") | {"MARKET_SPINE_HOME": str(tmp_path)}
    settings = Settings.from_env(env | {"MARKET_SPINE_LAKE_URI": "s3://market-spine-lake/lake"})
    secret = find(manifests(), "Secret", "market-spine-object-store")["stringData"]
    assert settings.lake_access_key_id == secret["access-key-id"]
    options = settings.lake_options()
    assert options is not None and options.secret_access_key is not None
    assert options.secret_access_key.get_secret_value() == secret["secret-access-key"]
    captures = pod.startswith("helm/")
    assert (settings.thetadata_credentials is not None) is captures, pod
    if pod.startswith("k8s/"):
        # The pods outside the chart open the instance with the password's file.
        assert env["DAGSTER_PG_PASSWORD_FILE"].startswith(str(tmp_path))


def test_an_environment_value_still_works_where_no_file_is_given(tmp_path: Path) -> None:
    """Local development keeps plain variables: the file is the production path only."""
    settings = Settings.from_env(
        {
            "MARKET_SPINE_HOME": str(tmp_path),
            "MARKET_SPINE_LAKE_URI": "s3://market-spine-lake/lake",
            "MARKET_SPINE_LAKE_ACCESS_KEY_ID": "dev",
            "MARKET_SPINE_LAKE_SECRET_ACCESS_KEY": "dev-secret",
        }
    )
    options = settings.lake_options()
    assert options is not None and options.access_key_id == "dev"
