"""Every pod the deployment files start (the Helm chart's webserver, daemon, code server and run
pods; the manifests' API, streamer and jobs) runs with a read-only root filesystem, as a non-root
user, without privilege escalation or capabilities; and every path the processes write, taken
from the code that writes it, is on a writable volume: /tmp, the pieces of DAGSTER_HOME Dagster
writes, and the home (the warehouse's copy and dbt's target beneath it), all scratch: what must
last is in PostgreSQL and the lake."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from dagster._core.instance.ref import _defs_state_directory, compute_logs_directory
from dagster._core.telemetry import TELEMETRY_STR

from market_spine.warehouse.paths import dbt_target_path, warehouse_dir
from market_spine_tests.deploy.kit import manifests
from market_spine_tests.deploy.test_every_pod import platform_pods
from market_spine_tests.deploy.test_helm_values import values

#: Where a process writes temporary files in a container (no TMPDIR is set in the image).
TMP = "/tmp"
#: What Dagster writes in DAGSTER_HOME beside the instance's dagster.yaml, besides the storage
#: folders: the UI's first-run marker, telemetry's id and its logs.
DAGSTER_HOME_MARKERS = (".nux", TELEMETRY_STR, "logs")


@pytest.fixture(autouse=True)
def _no_tmpdir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)


def dagster_writes(dagster_home: str) -> list[str]:
    """The folders a Dagster process writes under `dagster_home` (compute logs and local
    artifacts, definitions state, the markers)."""
    return [
        compute_logs_directory(dagster_home),
        _defs_state_directory(dagster_home),
        *(str(PurePosixPath(dagster_home) / name) for name in DAGSTER_HOME_MARKERS),
    ]


def home_writes(home: str) -> list[str]:
    """The folders the platform writes under its home: the home itself (lake ledger, audit,
    keys), the warehouse and dbt's target and logs."""
    root = Path(home)
    return [home, str(warehouse_dir(root)), str(dbt_target_path(root))]


def _pod(
    security: dict[str, Any],
    pod_security: dict[str, Any],
    volumes: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    writes: list[str],
) -> dict[str, Any]:
    return {
        "security": security,
        "pod_security": pod_security,
        "volumes": volumes,
        "mounts": mounts,
        "writes": writes,
    }


def pods() -> dict[str, dict[str, Any]]:
    """Each pod of the deployment files: its container's and pod's security contexts, its
    volumes and mounts, and the paths its processes write."""
    v = values()
    dagster_home = v["global"]["dagsterHome"]
    envs = platform_pods()
    found: dict[str, dict[str, Any]] = {}
    for name, part in (("webserver", v["dagsterWebserver"]), ("daemon", v["dagsterDaemon"])):
        found[f"helm/{name}"] = _pod(
            part.get("securityContext", {}),
            part.get("podSecurityContext", {}),
            part.get("volumes", []),
            part.get("volumeMounts", []),
            [TMP, *dagster_writes(dagster_home)],
        )
    [code] = v["dagster-user-deployments"]["deployments"]
    code_home = envs["helm/code-server"]["MARKET_SPINE_HOME"]
    found["helm/code-server"] = _pod(
        code.get("securityContext", {}),
        code.get("podSecurityContext", {}),
        code.get("volumes", []),
        code.get("volumeMounts", []),
        [TMP, *dagster_writes(dagster_home), *home_writes(code_home)],
    )
    launcher = v["runLauncher"]["config"]["k8sRunLauncher"]
    run_home = envs["helm/run"]["MARKET_SPINE_HOME"]
    found["helm/run"] = _pod(
        launcher.get("securityContext", {}),
        (launcher["runK8sConfig"].get("podSpecConfig") or {}).get("securityContext", {}),
        # A run pod gets the code server's volumes and the launcher's.
        [*code.get("volumes", []), *launcher.get("volumes", [])],
        [*code.get("volumeMounts", []), *launcher.get("volumeMounts", [])],
        [TMP, *dagster_writes(dagster_home), *home_writes(run_home)],
    )
    for obj in manifests():
        if obj["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        spec = obj["spec"]["template"]["spec"]
        for container in spec["containers"]:
            env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
            writes = [TMP]
            if "MARKET_SPINE_HOME" in env:
                writes += home_writes(env["MARKET_SPINE_HOME"])
            found[f"k8s/{obj['metadata']['name']}/{container['name']}"] = _pod(
                container.get("securityContext", {}),
                spec.get("securityContext", {}),
                spec.get("volumes", []),
                container.get("volumeMounts", []),
                writes,
            )
    return found


@pytest.mark.parametrize("name", sorted(pods()))
def test_every_pod_runs_read_only_unprivileged(name: str) -> None:
    pod = pods()[name]
    security, pod_security = pod["security"], pod["pod_security"]
    assert security.get("readOnlyRootFilesystem") is True, f"{name} can write its image"
    assert security.get("allowPrivilegeEscalation") is False, name
    assert "ALL" in security.get("capabilities", {}).get("drop", []), name
    non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
    assert non_root is True, f"{name} may run as root"


def _writable(pod: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The volume a write to `path` lands on: the deepest writable mount holding it."""
    holding = [
        m
        for m in pod["mounts"]
        if not m.get("readOnly")
        and PurePosixPath(path).is_relative_to(PurePosixPath(m["mountPath"]))
    ]
    if not holding:
        return None
    mount = max(holding, key=lambda m: len(PurePosixPath(m["mountPath"]).parts))
    [volume] = {v["name"]: v for v in pod["volumes"] if v["name"] == mount["name"]}.values()
    return volume


@pytest.mark.parametrize("name", sorted(pods()))
def test_every_path_a_pod_writes_is_on_a_writable_volume(name: str) -> None:
    pod = pods()[name]
    assert tempfile.gettempdir() == TMP
    for path in pod["writes"]:
        volume = _writable(pod, path)
        assert volume is not None, f"{name} writes {path} on its read-only root"
        assert "emptyDir" in volume, (name, path)
