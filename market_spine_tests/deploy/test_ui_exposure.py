"""The Dagster webserver is reachable by the API alone in every shipped configuration: in
compose it lives in the api container's network namespace on loopback, published nowhere; in
Kubernetes a NetworkPolicy admits only the API's pods, and the API's proxy is pointed at the
webserver's Service with the UI's path prefix."""

from __future__ import annotations

from typing import Any

import pytest

from market_spine.settings import UI_PATH_PREFIX, Settings
from market_spine_tests.deploy.kit import find, manifests, mounted, secret_files
from market_spine_tests.deploy.test_compose import compose, mounted_environment
from market_spine_tests.deploy.test_helm_values import values


def test_compose_keeps_the_webserver_inside_the_api_container(tmp_path: Any) -> None:
    services = compose()["services"]
    webserver = services["webserver"]
    assert webserver["network_mode"] == "service:api"
    assert "ports" not in webserver and "expose" not in webserver
    command = " ".join(webserver["command"])
    assert "-h 127.0.0.1 -p 3000" in command and "0.0.0.0" not in command
    assert f"--path-prefix {UI_PATH_PREFIX}" in command
    published = [str(p) for s in services.values() for p in s.get("ports", [])]
    assert not [p for p in published if p.split(":")[-1] == "3000"], published
    # The api container's settings point its proxy at that loopback port.
    env = mounted_environment(services["api"], tmp_path) | {"MARKET_SPINE_HOME": str(tmp_path)}
    assert Settings.from_env(env).ui_upstream_url == "http://127.0.0.1:3000"


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_kubernetes_admits_only_the_api_to_the_webserver(tmp_path: Any) -> None:
    objects = manifests()
    policy = find(objects, "NetworkPolicy", "dagster-webserver-from-api-only")
    api = find(objects, "Deployment", "market-spine-api")
    streamer = find(objects, "Deployment", "market-spine-streamer")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    # The Dagster chart's webserver pods (release `dagster`).
    webserver_pod = {"app.kubernetes.io/instance": "dagster", "component": "dagster-webserver"}
    assert _labels_match(spec["podSelector"]["matchLabels"], webserver_pod)
    [rule] = spec["ingress"]
    [source] = rule["from"]
    assert set(source) == {"podSelector"}  # no namespace or IP block widens it
    selector = source["podSelector"]["matchLabels"]
    assert _labels_match(selector, api["spec"]["template"]["metadata"]["labels"])
    assert not _labels_match(selector, streamer["spec"]["template"]["metadata"]["labels"])
    port = values()["dagsterWebserver"]["service"]["port"]
    assert rule["ports"] == [{"protocol": "TCP", "port": port}]
    # The chart binds the same port in the container, as a user with every capability dropped:
    # only a port above 1024 binds without NET_BIND_SERVICE.
    security = values()["dagsterWebserver"]["securityContext"]
    assert security["runAsNonRoot"] and "ALL" in security["capabilities"]["drop"]
    assert port > 1024
    # The API's proxy targets that Service, which serves the UI under the proxy's prefix.
    [container] = api["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    files = secret_files(api["spec"]["template"]["spec"]["volumes"], container["volumeMounts"])
    env = mounted(env, files, tmp_path / "secrets")
    upstream = Settings.from_env(env | {"MARKET_SPINE_HOME": str(tmp_path)}).ui_upstream_url
    assert upstream == f"http://dagster-webserver:{port}"
    assert values()["dagsterWebserver"]["pathPrefix"] == UI_PATH_PREFIX
    assert not values()["dagsterWebserver"].get("ingress")


def test_the_proxy_target_defaults_to_loopback_and_takes_a_url(tmp_path: Any) -> None:
    home = {"MARKET_SPINE_HOME": str(tmp_path)}
    assert Settings.from_env(home | {"MARKET_SPINE_UI_PORT": "3100"}).ui_upstream_url == (
        "http://127.0.0.1:3100"
    )
    given = home | {"MARKET_SPINE_UI_UPSTREAM": "http://dagster-webserver:80/"}
    assert Settings.from_env(given).ui_upstream_url == "http://dagster-webserver:80"
    with pytest.raises(ValueError, match="MARKET_SPINE_UI_UPSTREAM"):
        Settings.from_env(home | {"MARKET_SPINE_UI_UPSTREAM": "dagster-webserver"})
