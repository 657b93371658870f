"""No pod of the platform is tied to a node: its stores are in the instance's PostgreSQL (the
platform ConfigMap sets `state_database`), the warehouse is published to the lake, and every
pod's home is scratch. The settings a pod reads from its manifest say so, and hash personal
data with the one key they all mount."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from market_spine.errors import InvalidInput
from market_spine.settings import Settings
from market_spine_tests.deploy.kit import find, manifests
from market_spine_tests.deploy.test_helm_values import values

HOME = "/data"


def _pods() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    """Every Market Spine pod: (its spec, its volumes, its container's mounts), by name."""
    found = {}
    for o in manifests():
        if o["kind"] == "Deployment":
            spec = o["spec"]["template"]["spec"]
            [container] = spec["containers"]
            found[o["metadata"]["name"]] = (spec, spec["volumes"], container["volumeMounts"])
    v = values()
    [code] = v["dagster-user-deployments"]["deployments"]
    found["code-server"] = (code, code["volumes"], code["volumeMounts"])
    launcher = v["runLauncher"]["config"]["k8sRunLauncher"]
    pod = launcher["runK8sConfig"]["podSpecConfig"]
    found["run"] = (pod, launcher["volumes"], launcher["volumeMounts"])
    return found


def test_no_volume_claim_and_no_affinity_ties_a_pod_to_a_node() -> None:
    assert not [o for o in manifests() if o["kind"] == "PersistentVolumeClaim"]
    pods = _pods()
    assert sorted(pods) == ["code-server", "market-spine-api", "market-spine-streamer", "run"]
    for name, (spec, volumes, mounts) in pods.items():
        assert "affinity" not in spec, name
        assert not [v for v in volumes if "persistentVolumeClaim" in v], name
        [home] = [m["name"] for m in mounts if m["mountPath"] == HOME]
        assert {"name": home, "emptyDir": {}} in volumes, name
    launcher = values()["runLauncher"]["config"]["k8sRunLauncher"]
    assert "labels" not in launcher


def test_the_api_replicas_spread_over_nodes() -> None:
    api = find(manifests(), "Deployment", "market-spine-api")["spec"]["template"]["spec"]
    [spread] = api["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "market-spine-api"}


def _pod_environment(name: str) -> dict[str, str]:
    """What a pod's settings read: the platform ConfigMap, then its own variables."""
    config = find(manifests(), "ConfigMap", "market-spine-platform")["data"]
    if name in ("code-server", "run"):
        [code] = values()["dagster-user-deployments"]["deployments"]
        return {**config, **code["env"]}
    container = find(manifests(), "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
    return {**config, **{e["name"]: e["value"] for e in container["env"] if "value" in e}}


@pytest.mark.parametrize("name", ["market-spine-api", "market-spine-streamer", "code-server"])
def test_every_pods_settings_keep_state_off_its_node_and_share_the_pii_key(
    name: str, tmp_path: Path
) -> None:
    env = _pod_environment(name)
    assert env["MARKET_SPINE_STATE_DATABASE"] == "instance" and env["MARKET_SPINE_HOME"] == HOME
    key_file = env["MARKET_SPINE_PII_HASH_KEY_FILE"]
    _, volumes, mounts = _pods()[name]
    [secrets] = [m for m in mounts if key_file.startswith(m["mountPath"] + "/")]
    [volume] = [v for v in volumes if v["name"] == secrets["name"]]
    paths = [i["path"] for s in volume["projected"]["sources"] for i in s["secret"]["items"]]
    assert key_file.rsplit("/", 1)[1] in paths
    # The settings as the pod reads them (home and key file moved here).
    local = {**env, "MARKET_SPINE_HOME": str(tmp_path), "MARKET_SPINE_PROFILE": "dev"}
    (tmp_path / "pii").write_text("k" * 64)
    local["MARKET_SPINE_PII_HASH_KEY_FILE"] = str(tmp_path / "pii")
    for variable in [k for k in local if k.endswith("_FILE") and "PII" not in k]:
        del local[variable]
    assert Settings.from_env(local).state_database == "instance"
    del local["MARKET_SPINE_PII_HASH_KEY_FILE"]
    with pytest.raises(InvalidInput, match="pii_hash_key"):
        Settings.from_env(local)
