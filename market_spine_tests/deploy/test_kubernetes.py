"""The Kubernetes manifests validate against the Kubernetes schemas and wire together: the API's
probes, resources, autoscaler and Service; the streamer's single replica, restarts and identity;
every Secret, volume claim and ServiceAccount they name exists."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from market_spine.api.access import PUBLIC, ROUTES
from market_spine_tests.deploy.kit import KUBERNETES, find, manifests


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return deployment["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize("obj", manifests(), ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_each_manifest_is_a_valid_kubernetes_object(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_a_misspelt_field_fails_validation() -> None:
    api = find(manifests(), "Deployment", "market-spine-api")
    api["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, KUBERNETES, strict=True)


def test_the_api_is_probed_sized_scaled_and_served() -> None:
    objects = manifests()
    api = find(objects, "Deployment", "market-spine-api")
    [container] = containers(api)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # Both probes answer without a credential, or every replica would be killed or unready.
    assert ROUTES[("GET", "/healthz")] == PUBLIC and ROUTES[("GET", "/readyz")] == PUBLIC
    assert container["livenessProbe"]["httpGet"]["port"] in ports
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert int(env["MARKET_SPINE_API_PORT"]) == ports["http"]
    assert env["MARKET_SPINE_API_HOST"] == "0.0.0.0"
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["cpu"]

    hpa = find(objects, "HorizontalPodAutoscaler", "market-spine-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "market-spine-api",
    }
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert 2 <= low < high

    service = find(objects, "Service", "market-spine-api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert api["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)


def test_the_streamer_runs_once_restarts_and_has_its_own_identity() -> None:
    objects = manifests()
    streamer = find(objects, "Deployment", "market-spine-streamer")
    api = find(objects, "Deployment", "market-spine-api")
    spec = streamer["spec"]
    assert spec["replicas"] == 1
    # Never two at once: a rolling update would briefly run an old and a new streamer.
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert not any(
        o["kind"] == "HorizontalPodAutoscaler"
        and o["spec"]["scaleTargetRef"]["name"] == "market-spine-streamer"
        for o in objects
    )
    account = pod["serviceAccountName"]
    assert account != api["spec"]["template"]["spec"]["serviceAccountName"]
    find(objects, "ServiceAccount", account)
    [container] = containers(streamer)
    assert container["command"] == ["market-spine", "stream"]
    # Its secret volumes besides PostgreSQL's CA, which every pod opening the instance mounts.
    key_volumes = [v for v in pod["volumes"] if "secret" in v and v["name"] != "postgres-ca"]
    assert [v["secret"]["secretName"] for v in key_volumes] == ["market-spine-streamer-key"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == key_volumes[0]["name"]]
    # Only the key file: the shared key store beside it stays visible.
    assert mount["readOnly"] and mount["subPath"] == "admin.key"


def test_every_secret_claim_and_account_named_exists() -> None:
    objects = manifests()
    for deployment in (o for o in objects if o["kind"] in ("Deployment", "Job")):
        pod = deployment["spec"]["template"]["spec"]
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                find(objects, "Secret", volume["secret"]["secretName"])
            if "persistentVolumeClaim" in volume:
                find(objects, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    find(objects, "ConfigMap", source["configMapRef"]["name"])
                else:
                    find(objects, "Secret", source["secretRef"]["name"])
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in find(objects, "Secret", ref["name"])["stringData"]
        if deployment["kind"] == "Deployment":
            find(objects, "ServiceAccount", pod["serviceAccountName"])
            assert pod["securityContext"]["runAsNonRoot"] is True
