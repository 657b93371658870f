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

from market_spine.config.profiles import instance_file
from market_spine_tests.deploy.kit import DEPLOY, REPO

COMPOSE = DEPLOY / "compose"
PLATFORM = ("daemon", "webserver", "api", "streamer")


def compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text(encoding="utf-8"))


def env_path(name: str) -> Path:
    """An env file the compose file names; a secret one (`secrets/*.env`, never committed) is
    its committed example."""
    path = COMPOSE / name
    return path.with_name(path.name + ".example") if name.startswith("secrets/") else path


def env_file(name: str) -> dict[str, str]:
    """An env file's variables (a secret one's from its committed example)."""
    path = env_path(name)
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
            assert env_path(name).is_file(), name
    instance = yaml.safe_load(instance_file("prod").read_text())
    db = instance["storage"]["postgres"]["postgres_db"]
    wanted = {v["env"] for v in db.values() if isinstance(v, dict)}
    for name in PLATFORM:
        env = environment(services[name])
        assert wanted <= set(env), f"{name} lacks {wanted - set(env)}"
        assert env["MARKET_SPINE_HOME"] == "/data"
        # The instance folder the platform's commands open is the one the daemon uses.
        assert env["DAGSTER_HOME"] == "/data/dagster"
    # The instance connects with the password PostgreSQL was started with.
    assert (
        environment(services["postgres"])["POSTGRES_USER"]
        == env_file("spine.env")["DAGSTER_PG_USERNAME"]
    )
    assert (
        env_file("secrets/postgres.env")["POSTGRES_PASSWORD"]
        == env_file("secrets/instance.env")["DAGSTER_PG_PASSWORD"]
    )
    assert "deploy/compose/secrets/*.env" in (REPO / ".gitignore").read_text().splitlines()


def test_each_service_gets_only_the_secrets_it_needs() -> None:
    services = compose()["services"]
    root = {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
    for name, service in services.items():
        env = environment(service)
        if name not in ("objectstore", "bucket"):
            assert not root & set(env), f"{name} gets MinIO's root account"
        if name != "postgres":
            assert "POSTGRES_PASSWORD" not in env, name
        if name != "daemon":
            assert "MARKET_SPINE_THETADATA_CREDENTIALS" not in env, name
    # The lake is reached with the platform's own user, which the bucket job creates.
    lake = env_file("secrets/lake.env")
    assert (
        lake["MARKET_SPINE_LAKE_ACCESS_KEY_ID"]
        != env_file("secrets/objectstore.env")["MINIO_ROOT_USER"]
    )
    script = services["bucket"]["entrypoint"][-1]
    assert '"$$MINIO_ROOT_USER"' in script
    assert 'mc admin user add store "$$MARKET_SPINE_LAKE_ACCESS_KEY_ID"' in script
    assert "mc admin policy attach store market-spine-lake" in script
    assert "mc mb --ignore-existing store/market-spine-lake" in script
    assert env_file("spine.env")["MARKET_SPINE_LAKE_URI"].startswith("s3://market-spine-lake/")


def test_the_instance_file_is_a_valid_dagster_instance(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text(instance_file("prod").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]
    assert config["concurrency"]["pools"]["default_limit"] == 1


def test_only_the_api_and_stream_are_published_beyond_loopback() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            if name not in ("api", "streamer"):
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"
