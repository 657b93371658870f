"""The production checks say what is wrong in one line: an instance whose variables are unset or
whose PostgreSQL refuses, a port that is not a number, a lake bucket S3 would refuse or that
cannot be reached, written or authenticated to, a secret in a profile file, a mistyped variable
or key. Plain `config validate` reaches what the home's profile names."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.config.file import read_profile, unknown_variables
from market_spine.config.lake_probe import probe_object_lake, why_refused
from market_spine.config.profile_check import check_postgres
from market_spine.errors import InvalidInput
from market_spine.home import prepare_home
from market_spine.settings import Settings
from market_spine_tests.kit.postgres import PostgresServer
from market_spine_tests.kit.s3 import S3Server

runner = CliRunner()
PG = {
    "DAGSTER_PG_HOST": "127.0.0.1",
    "DAGSTER_PG_PORT": "9",  # discard: nothing listens
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "wrong",
    "DAGSTER_PG_DB": "dagster",
}


@pytest.fixture
def test_home(env_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home under the test profile as `market-spine up` leaves it (its dagster.yaml on
    PostgreSQL), before the database is reached."""
    monkeypatch.setenv("MARKET_SPINE_PROFILE", "test")
    settings = Settings.from_env(
        {"MARKET_SPINE_HOME": str(env_home), "MARKET_SPINE_PROFILE": "test"}
    )
    prepare_home(settings)
    return env_home


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize(
    "command", [("runs",), ("status",), ("process", "--symbols", "CL", "--date", "2024-03-04")]
)
def test_an_unset_instance_variable_is_one_line_not_a_traceback(
    test_home: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    for name in PG:
        monkeypatch.delenv(name, raising=False)
    code, out = run(*command)
    assert code == 2, out
    assert "Traceback" not in out and "DagsterInvalidConfigError" not in out
    [line] = [x for x in out.splitlines() if x.startswith("error:")]
    assert "DAGSTER_PG_DB" in line and "unset" in line


@pytest.mark.parametrize("command", [("runs",), ("status",)])
def test_a_refusing_postgres_is_one_line(
    test_home: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    for name, value in PG.items():
        monkeypatch.setenv(name, value)
    code, out = run(*command)
    assert code == 2, out
    assert "Traceback" not in out
    assert "cannot connect to 127.0.0.1:9/dagster" in out and "DAGSTER_PG_PASSWORD" in out


def test_a_wrong_password_is_one_line_at_once(
    test_home: Path, monkeypatch: pytest.MonkeyPatch, postgres: PostgresServer
) -> None:
    for name, value in {**postgres.env("postgres"), "DAGSTER_PG_PASSWORD": "wrong"}.items():
        monkeypatch.setenv(name, value)
    started = time.monotonic()
    code, out = run("runs")
    assert code == 2, out
    assert "Traceback" not in out and "password authentication failed" in out
    # Refused at the first connection, not after Dagster's half a minute of retries.
    assert time.monotonic() - started < 15


def test_a_port_that_is_not_a_number_is_a_finding() -> None:
    finding = check_postgres("test", {**PG, "DAGSTER_PG_PORT": "5x"})
    assert finding.ok is False
    assert (
        finding.detail
        == "DAGSTER_PG_PORT='5x' is not a port number (1..65535): set it to e.g. 5432"
    )


def test_plain_validate_reaches_the_profiles_postgres(
    env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_SPINE_PROFILE", "test")
    for name, value in PG.items():
        monkeypatch.setenv(name, value)
    code, out = run("config", "validate")
    assert code == 1, out
    out = " ".join(out.split())
    assert "unreachable postgres: cannot connect to 127.0.0.1:9/dagster" in out
    assert "ok lake:" in out


@pytest.mark.parametrize("uri", ["s3://My_Bucket/lake", "s3://ab/lake", "s3://a..b/lake"])
def test_a_bucket_s3_refuses_is_refused_at_config_set(env_home: Path, uri: str) -> None:
    code, out = run("config", "set", "lake_uri", uri)
    assert code == 2, out
    assert "which S3 refuses" in " ".join(out.split())
    assert not (env_home / "settings.toml").exists()


def test_the_lake_probe_writes_and_names_each_failure(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3.bucket()
    ok, detail = probe_object_lake(s3.settings(tmp_path, bucket))
    assert ok, detail
    assert "takes a write and a delete" in detail
    # The probe object is gone again.
    assert not s3.client().list_objects_v2(Bucket=bucket).get("Contents")

    ok, detail = probe_object_lake(s3.settings(tmp_path, "no-such-bucket"))
    assert not ok and "the bucket no-such-bucket does not exist" in detail

    env = s3.lake_env(tmp_path, bucket, MARKET_SPINE_LAKE_ENDPOINT="http://127.0.0.1:9")
    ok, detail = probe_object_lake(Settings.from_env(env))
    assert not ok and "nothing answers at http://127.0.0.1:9" in detail
    assert "lake_endpoint" in detail

    # Validation's settings line names the lake where it is.
    monkeypatch.setenv("MARKET_SPINE_PROFILE", "dev")
    for name, value in s3.lake_env(tmp_path, "no-such-bucket").items():
        monkeypatch.setenv(name, value)
    code, out = run("config", "validate", "--profile", "dev")
    out = " ".join(out.split())
    assert code == 1
    assert "lake s3://no-such-bucket/lake" in out
    assert "error lake: s3://no-such-bucket/lake: the bucket no-such-bucket does not exist" in out


@pytest.mark.parametrize("code", ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"])
def test_refused_credentials_are_told_apart(code: str) -> None:
    error = RuntimeError(f"Server returned non-2xx status code: 403 Forbidden: <Code>{code}</Code>")
    reason = why_refused(error, "lake", "http://store:9000")
    assert reason.startswith("http://store:9000 refused the lake's credentials for bucket lake")


def test_missing_credentials_are_told_apart() -> None:
    error = RuntimeError("Error performing PUT http://169.254.169.254/latest/api/token: 403")
    assert why_refused(error, "lake", "AWS S3").startswith("no lake credentials are set")


def test_a_secret_in_a_profile_file_is_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from market_spine.config import profiles

    root = tmp_path / "profiles"
    shutil.copytree(profiles.PROFILES_ROOT, root)
    with (root / "test" / "settings.toml").open("a") as f:
        f.write('lake_secret_access_key = "hunter2"\n')
    settings_file, read_settings = profiles.settings_file, profiles.read_profile_settings
    monkeypatch.setattr(profiles, "settings_file", lambda name, *_: settings_file(name, root))
    monkeypatch.setattr(
        profiles, "read_profile_settings", lambda name, *_: read_settings(name, root)
    )
    with pytest.raises(InvalidInput) as caught:
        read_profile("test")
    message = str(caught.value)
    assert "never holds secrets" in message and "hunter2" not in message
    assert "MARKET_SPINE_LAKE_SECRET_ACCESS_KEY_FILE" in message


def test_a_mistyped_variable_or_key_gets_did_you_mean(env_home: Path) -> None:
    [warning] = unknown_variables({"MARKET_SPINE_LAKE_URL": "s3://x/y", "MARKET_SPINE_HOME": "."})
    assert "MARKET_SPINE_LAKE_URL is not a Market Spine variable" in warning
    assert "did you mean MARKET_SPINE_LAKE_URI?" in warning
    assert unknown_variables({"MARKET_SPINE_THETADATA_CREDENTIALS_FILE": "/s", "PATH": "/"}) == []
    result = runner.invoke(
        app, ["config", "validate", "--offline"], env={"MARKET_SPINE_API_PROT": "8001"}
    )
    assert result.exit_code == 0
    assert "did you mean MARKET_SPINE_API_PORT?" in " ".join(result.stderr.split())
    code, out = run("config", "set", "api_prot", "8001")
    assert code == 2 and "did you mean api_port?" in out


def test_the_readme_lists_the_lake_and_instance_settings() -> None:
    from market_spine.config.file import KEYS
    from market_spine_tests.kit.homes import REPO

    table = [
        line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `")
    ]
    text = "\n".join(table)
    for key, variable in KEYS.items():
        if key.startswith("lake_"):
            short = variable.removeprefix("MARKET_SPINE")
            assert variable in text or f"`{short}" in text or f"/ `{short}" in text, variable
    assert "DAGSTER_PG_HOST" in text
    for part in ("_PORT", "_USERNAME", "_PASSWORD", "_DB"):
        assert f"`{part}`" in text, part


def _prod_instance_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str
) -> Path:
    """A copy of the profiles whose prod dagster.yaml has `old` replaced by `new`, read by the
    profile checks."""
    import market_spine.config.profile_check as check
    from market_spine.config.profiles import instance_file

    root = tmp_path / "profiles"
    shutil.copytree(instance_file("prod").parents[1], root)
    path = root / "prod" / "dagster.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    monkeypatch.setattr(check, "instance_file", lambda profile: root / profile / "dagster.yaml")
    return path


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("      params:\n        sslmode: verify-full\n", "", "no sslmode"),
        ("sslmode: verify-full", "sslmode: prefer", "sslmode 'prefer'"),
        ("sslmode: verify-full", "sslmode: disable", "sslmode 'disable'"),
    ],
)
def test_validate_refuses_a_prod_instance_that_may_connect_without_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, named: str
) -> None:
    from market_spine.config.profile_check import check_instance

    path = _prod_instance_with(tmp_path, monkeypatch, old, new)
    env = {**PG, "DAGSTER_PG_PORT": "5432"}
    [finding] = [f for f in check_instance("prod", env) if f.ok is False]
    assert str(path) in finding.detail and named in finding.detail
    assert "set postgres_db.params.sslmode to verify-full" in finding.detail
    # The test profile's shared environment may run without it.
    assert [f.ok for f in check_instance("test", env)] == [True]


def test_validate_refuses_verify_full_without_a_root_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from market_spine.config.profile_check import check_instance

    env = {**PG, "DAGSTER_PG_PORT": "5432"}
    [finding] = [f for f in check_instance("prod", env) if f.ok is False]
    assert "sslmode 'verify-full'" in finding.detail
    assert "set PGSSLROOTCERT to the PEM file of the CA" in finding.detail
    assert "market-spine-postgres-ca" in finding.detail
    missing = tmp_path / "nowhere" / "ca.pem"
    [finding] = [
        f for f in check_instance("prod", {**env, "PGSSLROOTCERT": str(missing)}) if f.ok is False
    ]
    assert f"root certificate {missing} is no readable file here" in finding.detail
    missing.parent.mkdir()
    missing.write_text("-----BEGIN CERTIFICATE-----\n")
    assert [f.ok for f in check_instance("prod", {**env, "PGSSLROOTCERT": str(missing)})] == [True]
    # Named as a parameter of the instance file instead of the environment: accepted too.
    named = f"sslmode: verify-full\n        sslrootcert: {missing}"
    path = _prod_instance_with(tmp_path, monkeypatch, "sslmode: verify-full", named)
    assert [f.ok for f in check_instance("prod", env)] == [True], path


def test_a_wrong_root_certificate_is_refused_by_a_real_server(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    import trustme

    from market_spine.config.profile_check import check_postgres_storage, load_instance_yaml

    env = postgres.env(postgres.create_database("prod_wrong_ca"))
    prod = load_instance_yaml("prod")
    assert check_postgres_storage(prod, env, schema=False).ok is True
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    finding = check_postgres_storage(prod, {**env, "PGSSLROOTCERT": str(other)}, schema=False)
    assert finding.ok is False and "certificate verify failed" in finding.detail
    # The server answered: the fix is the CA, not the address or the credentials.
    assert "point PGSSLROOTCERT at the CA" in finding.detail
    assert "start the server" not in finding.detail


def test_the_shipped_prod_instance_requires_tls_and_gets_it_from_a_real_server(
    postgres: PostgresServer,
) -> None:
    import sqlalchemy as sa
    import yaml
    from dagster_postgres.utils import pg_url_from_config

    from market_spine.config.profile_check import TLS_SSLMODES, check_instance, resolved
    from market_spine.config.profiles import instance_file

    database = postgres.create_database("prod_tls")
    env = postgres.env(database)
    assert [f.ok for f in check_instance("prod", env)] == [True]
    storage = yaml.safe_load(instance_file("prod").read_text())["storage"]["postgres"]
    assert storage["postgres_db"]["params"]["sslmode"] == "verify-full"
    assert storage["postgres_db"]["params"]["sslmode"] in TLS_SSLMODES
    filled = resolved(storage, env)
    # The server's certificate checked against the CA PGSSLROOTCERT names, as libpq would in a
    # process with that environment.
    filled["postgres_db"]["params"]["sslrootcert"] = env["PGSSLROOTCERT"]
    engine = sa.create_engine(pg_url_from_config(filled))
    try:
        with engine.connect() as conn:
            ssl = conn.execute(
                sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).scalar()
    finally:
        engine.dispose()
    assert ssl is True


def _mounts(tmp_path: Path, home: Path, kind: str) -> Path:
    """A mount table where `home`'s folder is a `kind` mount over an ext4 root."""
    table = tmp_path / "mounts"
    point = str(home.parent).replace(" ", "\\040")
    table.write_text(f"/dev/sda1 / ext4 rw 0 0\nserver:/export {point} {kind} rw 0 0\n")
    return table


@pytest.mark.parametrize("kind", ["nfs4", "cifs", "ceph", "fuse.sshfs"])
def test_validate_refuses_a_prod_home_on_a_network_filesystem(tmp_path: Path, kind: str) -> None:
    from market_spine.config.profile_check import check_home

    home = tmp_path / "shared volume" / "home"
    settings = Settings.from_env({"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": "prod"})
    finding = check_home(settings, _mounts(tmp_path, home, kind))
    assert finding.ok is False
    detail = finding.detail
    assert f"MARKET_SPINE_HOME={home} is on a network filesystem ({kind}" in detail
    assert "audit.sqlite" in detail and "_integrity.sqlite" in detail and "spine.lock" in detail
    assert "ReadWriteOnce" in detail
    # A local disk is fine, and the other profiles are not held to it.
    assert check_home(settings, _mounts(tmp_path, home, "ext4")).ok is True
    dev = Settings.from_env({"MARKET_SPINE_HOME": str(home)})
    assert check_home(dev, _mounts(tmp_path, home, kind)).ok is None


def test_validate_profile_reports_the_homes_filesystem(
    env_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import market_spine.config.home_volume as home_volume

    monkeypatch.setattr(home_volume, "MOUNTS", _mounts(tmp_path, env_home, "nfs4"))
    for name, value in {**PG, "DAGSTER_PG_PORT": "5432"}.items():
        monkeypatch.setenv(name, value)
    code, out = run("config", "validate", "--profile", "prod", "--offline")
    assert code == 1
    assert "error home: MARKET_SPINE_HOME=" in " ".join(out.split())
