"""The prod profile, the compose file's shared settings and the Kubernetes ConfigMap say the
same thing wherever they name the same setting: an environment value wins over the profile, so
a stray one would quietly point one deployment somewhere else."""

from __future__ import annotations

import tomllib

from market_spine_tests.deploy.kit import DEPLOY, documents, find

#: Settings each deployment gives its own value: where its own services are reachable.
ADDRESSES = frozenset({"ib_host", "lake_endpoint", "lake_region"})


def _profile() -> dict[str, str]:
    settings = tomllib.loads((DEPLOY / "profiles" / "prod" / "settings.toml").read_text())
    return {k: str(v) for k, v in settings.items() if k not in ADDRESSES}


def _compose_env() -> dict[str, str]:
    lines = (DEPLOY / "compose" / "spine.env").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {k.strip(): v.strip() for k, v in pairs}


def _configmap() -> dict[str, str]:
    config = find(
        documents(DEPLOY / "k8s" / "platform-config.yaml"), "ConfigMap", "market-spine-platform"
    )
    return {k: str(v) for k, v in config["data"].items()}


def _disagreements(env: dict[str, str]) -> list[str]:
    return [
        f"{f'MARKET_SPINE_{key.upper()}'}={env[f'MARKET_SPINE_{key.upper()}']} but the prod "
        f"profile says {key} = {value}"
        for key, value in _profile().items()
        if f"MARKET_SPINE_{key.upper()}" in env and env[f"MARKET_SPINE_{key.upper()}"] != value
    ]


def test_compose_gives_the_prod_profiles_values() -> None:
    assert _disagreements(_compose_env()) == []


def test_kubernetes_gives_the_prod_profiles_values() -> None:
    env = _configmap()
    assert "MARKET_SPINE_IB_PORT" in env
    assert _disagreements(env) == []
