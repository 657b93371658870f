"""The home holds SQLite databases in WAL mode (the audit trail, the lake's integrity ledger) and a
flock (the warehouse lock), which hold on one node's filesystem only: its claim is ReadWriteOnce
and every pod that mounts it is placed on that one node."""

from __future__ import annotations

from typing import Any

from market_spine_tests.deploy.kit import find, manifests
from market_spine_tests.deploy.test_helm_values import values

HOME_CLAIM = "market-spine-home"
LABEL = {"market-spine/home": "mounted"}
SAME_NODE = {
    "requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": LABEL}, "topologyKey": "kubernetes.io/hostname"}
    ]
}


def _mounts_home(volumes: list[dict[str, Any]]) -> bool:
    return any(
        (v.get("persistentVolumeClaim") or {}).get("claimName") == HOME_CLAIM for v in volumes
    )


def test_the_home_claim_is_one_nodes() -> None:
    claim = find(manifests(), "PersistentVolumeClaim", HOME_CLAIM)
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_every_pod_that_mounts_the_home_runs_on_the_same_node() -> None:
    placed = []
    for o in manifests():
        if o["kind"] != "Deployment":
            continue
        template = o["spec"]["template"]
        if _mounts_home(template["spec"].get("volumes", [])):
            assert LABEL.items() <= template["metadata"]["labels"].items(), o["metadata"]["name"]
            assert template["spec"]["affinity"]["podAffinity"] == SAME_NODE
            placed.append(o["metadata"]["name"])
    v = values()
    [code] = v["dagster-user-deployments"]["deployments"]
    launcher = v["runLauncher"]["config"]["k8sRunLauncher"]
    assert _mounts_home(code["volumes"]) and _mounts_home(launcher["volumes"])
    assert code["labels"] == LABEL and code["affinity"]["podAffinity"] == SAME_NODE
    assert launcher["labels"] == LABEL
    pod = launcher["runK8sConfig"]["podSpecConfig"]
    assert pod["affinity"]["podAffinity"] == SAME_NODE
    # The chart's own pods (webserver, daemon) do not mount the home.
    for part in (v["dagsterWebserver"], v["dagsterDaemon"]):
        assert not _mounts_home(part.get("volumes", []))
    assert sorted(placed) == ["market-spine-api", "market-spine-streamer"]
