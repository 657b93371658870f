"""The single-host compose file, validated statically (no docker here): it parses against the
Compose specification, and every service is wired: one image for the platform's services, env
files that exist and hold what the instance and the lake read, credentials only as Compose
secrets read from their files, healthchecks, and dependencies that wait for health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_pydantic import ComposeSpecification
from dagster._core.instance.config import dagster_instance_config

from market_spine.config.file import FILE_SUFFIX, KEYS
from market_spine.config.profiles import instance_file
from market_spine.config.secrets import SECRET_KEYS
from market_spine.settings import Settings
from market_spine_tests.deploy.kit import DEPLOY, REPO

COMPOSE = DEPLOY / "compose"
PLATFORM = ("daemon", "webserver", "api", "streamer")
#: Where Compose mounts a service's secrets.
SECRETS_DIR = "/run/secrets/"
#: Every variable that holds a credential, whichever service reads it: the settings' secrets and
#: the lake's key id, the instance's password, PostgreSQL's and MinIO's own.
CREDENTIALS = frozenset(
    {
        *(KEYS[key] for key in SECRET_KEYS),
        KEYS["lake_access_key_id"],
        "DAGSTER_PG_PASSWORD",
        "POSTGRES_PASSWORD",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
)


def compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text(encoding="utf-8"))


def env_path(name: str) -> Path:
    """An env file the compose file names."""
    return COMPOSE / name


def secret_example(name: str) -> Path:
    """The committed example of the file a top-level secret names (the file is never committed)."""
    path = COMPOSE / compose()["secrets"][name]["file"]
    return path.with_name(path.name + ".example")


def env_file(name: str) -> dict[str, str]:
    """An env file's variables."""
    path = env_path(name)
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value for key, value in pairs if not key.lstrip().startswith("#")}


def environment(service: dict[str, Any]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name in service.get("env_file", []):
        merged |= env_file(name)
    return merged | dict(service.get("environment", {}))


def mounted_environment(service: dict[str, Any], folder: Path) -> dict[str, str]:
    """The service's variables with its secrets mounted in `folder` instead of /run/secrets/,
    each holding its committed example."""
    for secret in service.get("secrets", []):
        (folder / secret).write_text(secret_example(secret).read_text())
    return {k: v.replace(SECRETS_DIR, f"{folder}/") for k, v in environment(service).items()}


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
    wanted = {v["env"] for v in db.values() if isinstance(v, dict) and "env" in v}
    for name in PLATFORM:
        env = environment(services[name])
        given = {v.removesuffix(FILE_SUFFIX) for v in env}
        assert wanted <= given, f"{name} lacks {wanted - given}"
        assert env["MARKET_SPINE_HOME"] == "/data"
        # The instance folder the platform's commands open is the one the daemon uses.
        assert env["DAGSTER_HOME"] == "/data/dagster"
        # The instance connects with the password PostgreSQL was started with: one secret.
        assert (
            env["DAGSTER_PG_PASSWORD_FILE"]
            == environment(services["postgres"])["POSTGRES_PASSWORD_FILE"]
        )
    assert (
        environment(services["postgres"])["POSTGRES_USER"]
        == env_file("spine.env")["DAGSTER_PG_USERNAME"]
    )
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "deploy/compose/secrets/*" in ignored and "!deploy/compose/secrets/*.example" in ignored


def secret_files(service: dict[str, Any]) -> dict[str, str]:
    """The service's `NAME_FILE` variables that name a mounted secret: NAME -> secret."""
    return {
        name.removesuffix(FILE_SUFFIX): value.removeprefix(SECRETS_DIR)
        for name, value in environment(service).items()
        if name.endswith(FILE_SUFFIX) and value.startswith(SECRETS_DIR)
    }


def test_credentials_are_secrets_read_from_their_files_never_environment_values() -> None:
    document = compose()
    secrets = document["secrets"]
    for name, service in document["services"].items():
        env = environment(service)
        plain = sorted(CREDENTIALS & set(env))
        assert not plain, f"{name} gets {plain} as environment values"
        mounted = set(service.get("secrets", []))
        for variable, secret in secret_files(service).items():
            assert secret in mounted, f"{name} reads {variable} from {secret}, not mounted"
        for secret in mounted:
            assert secret in secrets, f"{name} mounts an undeclared secret {secret}"
        # A shell that reads a secret itself reads one mounted here.
        script = " ".join(service.get("entrypoint", []) + service.get("command", []))
        for secret in secrets:
            if SECRETS_DIR + secret in script:
                assert secret in mounted, f"{name} reads {secret}, not mounted"
    for secret in secrets:
        assert secret_example(secret).is_file(), f"{secret} has no committed example"


def test_the_platforms_settings_read_their_credentials_from_the_mounted_files(
    tmp_path: Path,
) -> None:
    mounted = tmp_path / "secrets"
    mounted.mkdir()
    for secret in compose()["secrets"]:
        (mounted / secret).write_text(f"user:{secret}-value\n")
    services = compose()["services"]
    for name in PLATFORM:
        env = {
            k: v.replace(SECRETS_DIR, f"{mounted}/") for k, v in environment(services[name]).items()
        }
        settings = Settings.from_env(env | {"MARKET_SPINE_HOME": str(tmp_path / name)})
        options = settings.lake_options()
        assert options is not None and options.secret_access_key is not None
        assert options.secret_access_key.get_secret_value() == "user:lake_secret_access_key-value"
        assert settings.lake_access_key_id == "user:lake_access_key_id-value"
        credentials = settings.thetadata_credentials
        if name == "daemon":
            assert credentials is not None
            assert credentials.get_secret_value() == "user:thetadata_credentials-value"
        else:
            assert credentials is None, f"{name} gets the provider's credentials"


def test_each_service_gets_only_the_secrets_it_needs() -> None:
    services = compose()["services"]
    for name, service in services.items():
        mounted = set(service.get("secrets", []))
        if name not in ("objectstore", "bucket"):
            assert not {"minio_root_user", "minio_root_password"} & mounted, (
                f"{name} gets MinIO's root account"
            )
        if name != "daemon":
            assert "thetadata_credentials" not in mounted, name
    assert set(services["postgres"]["secrets"]) == {
        "postgres_password",
        "postgres_tls_cert",
        "postgres_tls_key",
    }
    # The server's private key is the server's alone.
    assert [n for n, s in services.items() if "postgres_tls_key" in s.get("secrets", [])] == [
        "postgres"
    ]
    # The lake is reached with the platform's own user, which the bucket job creates.
    assert (
        secret_example("lake_access_key_id").read_text()
        != secret_example("minio_root_user").read_text()
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


#: Programs a healthcheck may run that open the Dagster instance (they read the `{env: NAME}`
#: of its dagster.yaml, and know no `NAME_FILE`).
INSTANCE_PROGRAMS = ("dagster", "dagster-daemon", "dagster-webserver")
#: Every program a healthcheck of the file runs.
HEALTHCHECK_PROGRAMS = (*INSTANCE_PROGRAMS, "python", "pg_isready", "mc", "market-spine")


def _stub_programs(folder: Path, record: Path) -> None:
    """A stand-in for each healthcheck program in `folder`: it records its name and the
    environment it was started with (NUL-separated) in `record`, and succeeds."""
    folder.mkdir()
    for program in HEALTHCHECK_PROGRAMS:
        stub = folder / program
        stub.write_text(f'#!/bin/sh\n{{ printf "%s\\0" "{program}"; env -0; }} > "{record}"\n')
        stub.chmod(0o755)


def healthcheck_run(service: dict[str, Any], tmp_path: Path) -> tuple[str, dict[str, str]]:
    """Run the service's healthcheck as Docker would (CMD: the program with the service's
    environment; CMD-SHELL: `/bin/sh -c` after Compose's `$$` unescaping), with its secrets
    mounted in a folder holding their examples and stubs for the programs: the program it
    started and that program's environment."""
    import subprocess

    secrets_dir, bin_dir, record = tmp_path / "secrets", tmp_path / "bin", tmp_path / "ran"
    secrets_dir.mkdir(parents=True)
    _stub_programs(bin_dir, record)
    env = {**mounted_environment(service, secrets_dir), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    kind, *args = service["healthcheck"]["test"]
    if kind == "CMD":
        argv = [str(bin_dir / args[0]), *args[1:]]
    else:
        assert kind == "CMD-SHELL", kind
        argv = ["/bin/sh", "-c", " ".join(args).replace("$$", "$")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    program, *pairs = record.read_text().split("\0")
    return program, dict(p.split("=", 1) for p in pairs if "=" in p)


def test_every_healthcheck_gets_what_its_program_reads(tmp_path: Path) -> None:
    """A healthcheck runs in a process of its own, beside the container's command: what the
    command exports (the instance's password read from its secret) it does not get."""
    instance = yaml.safe_load(instance_file("prod").read_text())
    from market_spine.config.profile_check import env_references

    wanted = set(env_references(instance)) | {"DAGSTER_HOME"}
    checked = []
    for name, service in compose()["services"].items():
        if "healthcheck" not in service:
            continue
        program, env = healthcheck_run(service, tmp_path / name)
        if program in INSTANCE_PROGRAMS:
            missing = sorted(v for v in wanted if not env.get(v))
            assert not missing, f"{name}'s healthcheck runs {program} without {missing}"
            # The value is the mounted secret's, not a placeholder.
            expected = secret_example("postgres_password").read_text().rstrip("\n")
            assert env["DAGSTER_PG_PASSWORD"] == expected
            checked.append(name)
        # Whatever the program, every secret file it is pointed at is mounted here.
        for variable, value in env.items():
            if variable.endswith(FILE_SUFFIX) and str(tmp_path / name / "secrets") in value:
                assert Path(value).is_file(), f"{name}'s healthcheck reads {value}, not mounted"
    assert checked == ["daemon"]
