"""The single-host compose file, validated statically (no docker here): it parses against the
Compose specification, and every service is wired: one image for the platform's services, env
files that exist and hold what the instance and the lake read, healthchecks, and dependencies
that wait for health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_pydantic import ComposeSpecification
from dagster._core.instance.config import dagster_instance_config

from market_spine_tests.deploy.kit import DEPLOY, REPO

COMPOSE = DEPLOY / "compose"
PLATFORM = ("daemon", "webserver", "api", "streamer")


def compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text(encoding="utf-8"))


def env_file(name: str) -> dict[str, str]:
    """An env file's variables; `secrets.env` is read from its committed example."""
    path = COMPOSE / name
    if name == "secrets.env":
        path = COMPOSE / "secrets.env.example"
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value for key, value in pairs if not key.lstrip().startswith("#")}


def environment(service: dict[str, Any]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name in service.get("env_file", []):
        merged |= env_file(name)
    return merged | dict(service.get("environment", {}))


def specified(document: dict[str, Any]) -> dict[str, Any]:
    """The document Compose acts on: top-level `x-` extensions (YAML anchors for the services
    to merge, already merged by the parser) are ignored by Compose, and the model lacks them."""
    return {k: v for k, v in document.items() if not k.startswith("x-")}


def test_the_file_follows_the_compose_specification() -> None:
    ComposeSpecification.model_validate(specified(compose()))


def test_a_misplaced_key_is_refused() -> None:
    broken = compose()
    broken["services"]["api"]["healthcheck"]["intervall"] = "30s"
    with pytest.raises(ValueError):
        ComposeSpecification.model_validate(specified(broken))


def test_every_service_needed_is_there_with_a_healthcheck() -> None:
    services = compose()["services"]
    assert {"postgres", "objectstore", *PLATFORM} <= set(services)
    for name, service in services.items():
        if name != "bucket":  # a one-shot job: it exits once the bucket exists
            assert service["healthcheck"]["test"], name


def test_the_platform_runs_one_image_built_from_the_repository() -> None:
    services = compose()["services"]
    assert len({services[name]["image"] for name in PLATFORM}) == 1
    build = services["api"]["build"]
    assert (COMPOSE / build["context"] / build["dockerfile"]).resolve() == REPO / "Dockerfile"
    commands = {name: " ".join(services[name]["command"]) for name in PLATFORM}
    assert "dagster-daemon run" in commands["daemon"]
    assert "dagster-webserver" in commands["webserver"]
    assert commands["api"] == "market-spine api" and commands["streamer"] == "market-spine stream"


def test_dependencies_exist_and_wait_for_health() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    for name in PLATFORM:
        needs = services[name]["depends_on"]
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["bucket"]["condition"] == "service_completed_successfully"


def test_env_files_exist_and_feed_what_each_service_reads() -> None:
    services = compose()["services"]
    for service in services.values():
        for name in service.get("env_file", []):
            assert (COMPOSE / (name if name != "secrets.env" else "secrets.env.example")).is_file()
    instance = yaml.safe_load((COMPOSE / "dagster.yaml").read_text())
    db = instance["storage"]["postgres"]["postgres_db"]
    wanted = {v["env"] for v in db.values() if isinstance(v, dict)}
    for name in PLATFORM:
        env = environment(services[name])
        assert wanted <= set(env), f"{name} lacks {wanted - set(env)}"
        assert env["MARKET_SPINE_HOME"] == "/data"
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"} <= set(env)
    # The instance connects with the password PostgreSQL was started with.
    assert (
        environment(services["postgres"])["POSTGRES_USER"]
        == env_file("spine.env")["DAGSTER_PG_USERNAME"]
    )
    secrets = env_file("secrets.env")
    assert secrets["POSTGRES_PASSWORD"] == secrets["DAGSTER_PG_PASSWORD"]
    assert "deploy/compose/secrets.env" in (REPO / ".gitignore").read_text().splitlines()


def test_the_instance_file_is_a_valid_dagster_instance(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text((COMPOSE / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]
    assert config["concurrency"]["pools"]["default_limit"] == 1


def test_only_the_api_and_stream_are_published_beyond_loopback() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            if name not in ("api", "streamer"):
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"
