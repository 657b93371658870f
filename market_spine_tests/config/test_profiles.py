"""Deployment profiles from files: the profile picks the home's instance, its workspace and the
settings beneath the home's own; `config validate --profile` checks a folder line by line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.config.edit import entries
from market_spine.config.file import SettingSources
from market_spine.config.profile_check import (
    check_instance,
    check_workspace,
    env_references,
    profile_settings,
)
from market_spine.config.profiles import PROFILES, instance_file, read_profile_settings
from market_spine.errors import InvalidInput
from market_spine.home import prepare_home
from market_spine.runs.location import location_origin
from market_spine.settings import Settings

runner = CliRunner()
PG_VARIABLES = {"DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD"}


def pg_env(folder: Path) -> dict[str, str]:
    """Every variable a profile's instance reads, and a root certificate file for the prod
    profile's verify-full connection."""
    root_cert = folder / "ca.pem"
    root_cert.write_text("-----BEGIN CERTIFICATE-----\n")
    return {name: "x" for name in [*PG_VARIABLES, "DAGSTER_PG_DB"]} | {
        "PGSSLROOTCERT": str(root_cert)
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_folder_is_a_valid_instance_and_workspace(
    profile: str, tmp_path: Path
) -> None:
    env = pg_env(tmp_path)
    assert [f.ok for f in check_instance(profile, env)] == [True]
    assert [f.ok for f in check_workspace(profile)] == [True]
    # Every profile loads the code location under one name: a home that changes profile keeps
    # re-executing and retrying its earlier runs.
    assert location_origin(instance_file(profile).with_name("workspace.yaml")).location_name == (
        "market_spine.definitions"
    )


def test_dev_stays_the_embedded_sqlite_default_and_test_and_prod_use_postgres() -> None:
    dev = yaml.safe_load(instance_file("dev").read_text())
    assert "storage" not in dev and dev["concurrency"]["runs"]["max_concurrent_runs"] == 2
    for profile in ("test", "prod"):
        config = yaml.safe_load(instance_file(profile).read_text())
        assert set(config["storage"]) == {"postgres"}
        # Credentials are only ever read from the environment.
        assert set(env_references(config["storage"])) >= PG_VARIABLES
        assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]
        assert config["concurrency"]["pools"]["default_limit"] == 1
        [ib] = config["concurrency"]["runs"]["tag_concurrency_limits"]
        assert ib == {"key": "market_spine/provider", "value": "ib", "limit": 1}


def test_the_profile_gives_the_home_its_dagster_yaml(home: Path) -> None:
    for profile in ("dev", "prod"):
        env = {"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": profile}
        prepare_home(Settings.from_env(env))
        copied = (home / "dagster" / "dagster.yaml").read_text()
        assert copied == instance_file(profile).read_text()
        assert ("postgres" in yaml.safe_load(copied).get("storage", {})) is (profile == "prod")


def test_profile_settings_lie_beneath_the_home_file_and_the_environment(home: Path) -> None:
    prod = read_profile_settings("prod")
    assert prod["provider"] == "ib" and prod["options_provider"] == "thetadata"
    env = {"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": "prod"}
    settings = Settings.from_env(env)
    assert (settings.provider, settings.ib_port, settings.api_host) == ("ib", 4001, "0.0.0.0")
    by_key = {e.key: e for e in entries(env)}
    assert by_key["provider"].origin == "profile" and by_key["api_port"].origin == "default"

    home.mkdir()
    (home / "settings.toml").write_text("ib_port = 4002\n")
    assert Settings.from_env(env).ib_port == 4002
    assert Settings.from_env({**env, "MARKET_SPINE_IB_PORT": "7497"}).ib_port == 7497
    # Under dev the same home has none of prod's settings.
    assert Settings.from_env({**env, "MARKET_SPINE_PROFILE": "dev"}).provider == "simulated"


def test_a_bad_profile_value_is_named_with_its_file(home: Path) -> None:
    values = {"ib_port": "not a port"}
    sources = SettingSources({}, {}, home / "settings.toml", values, Path("/p/settings.toml"))
    with pytest.raises(InvalidInput, match=r"ib_port='not a port' in /p/settings.toml"):
        Settings.from_sources(home, sources)


def test_validate_dev_offline_is_clean(env_home: Path) -> None:
    result = runner.invoke(app, ["config", "validate", "--profile", "dev", "--offline"])
    assert result.exit_code == 0, result.output
    assert "ok dagster.yaml:" in result.output and "sqlite" in result.output
    assert "skipped connectivity: not probed (--offline)" in result.output


def test_validate_prod_names_each_missing_credential_and_unreachable_part(
    env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [*PG_VARIABLES, "DAGSTER_PG_DB"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MARKET_SPINE_IB_PORT", "9")  # discard: nothing listens
    monkeypatch.setenv("MARKET_SPINE_THETADATA_URL", "http://127.0.0.1:9/v3")
    monkeypatch.setenv("MARKET_SPINE_LAKE_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "spine")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    result = runner.invoke(app, ["config", "validate", "--profile", "prod"])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "error dagster.yaml:" in out and "DAGSTER_PG_PASSWORD" in out
    assert "export them (or mount the secret that holds them)" in out
    assert "skipped postgres: not probed: DAGSTER_PG_" in out
    assert "error ib: nothing accepts connections at 127.0.0.1:9" in out
    assert "error thetadata: nothing answers at http://127.0.0.1:9/v3" in out
    # Prod keeps the lake on object storage: the probe names the endpoint that does not answer.
    assert "error lake: s3://market-spine-lake/lake: nothing answers at http://127.0.0.1:9" in out


def test_validate_refuses_a_bad_settings_value_under_the_profile(
    env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_SPINE_AUTH", "off")
    result = runner.invoke(app, ["config", "validate", "--profile", "prod", "--offline"])
    assert result.exit_code == 1
    assert "auth is off under the prod profile" in " ".join(result.output.split())
    assert profile_settings("dev", {"MARKET_SPINE_HOME": str(env_home)}).profile == "dev"


def test_an_instance_file_off_the_schema_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "profiles"
    shutil.copytree(instance_file("dev").parents[1], root)
    bad = root / "prod" / "dagster.yaml"
    bad.write_text(bad.read_text().replace("max_concurrent_runs: 8", "max_concurrent_runs: many"))
    import market_spine.config.profile_check as check

    monkeypatch.setattr(check, "instance_file", lambda profile: root / profile / "dagster.yaml")
    [finding] = check.check_instance("prod", pg_env(tmp_path))
    assert finding.ok is False and "breaks Dagster's schema" in finding.detail
    assert "max_concurrent_runs" in finding.detail


def test_validate_reports_every_problem_of_a_profile_at_once(
    env_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [*PG_VARIABLES, "DAGSTER_PG_DB"]:
        monkeypatch.setenv(name, "5432")
    monkeypatch.setenv("PGSSLROOTCERT", pg_env(tmp_path)["PGSSLROOTCERT"])
    monkeypatch.setenv("MARKET_SPINE_AUTH", "off")
    monkeypatch.setenv("MARKET_SPINE_API_PORT", "eighty")
    monkeypatch.setenv("MARKET_SPINE_IB_PORT", "99999")
    monkeypatch.setenv("MARKET_SPINE_LAKE_SSE", "rot13")
    result = runner.invoke(app, ["config", "validate", "--profile", "prod", "--offline"])
    assert result.exit_code == 1
    lines = [" ".join(line.split()) for line in result.output.split("error settings.toml: ")[1:]]
    assert len(lines) == 4, result.output
    assert any("auth is off under the prod profile" in line for line in lines)
    assert any("MARKET_SPINE_API_PORT='eighty' is not a whole number" in line for line in lines)
    assert any("MARKET_SPINE_IB_PORT='99999' is outside 1..65535" in line for line in lines)
    assert any("MARKET_SPINE_LAKE_SSE='rot13'" in line for line in lines)
    assert "profile prod: 4 error(s)" in " ".join(result.output.split())


def test_a_value_refused_is_held_out_of_the_rules_across_settings(home: Path) -> None:
    """A wrong value is held at its default while the rest is checked: no rule across settings
    is judged on that stand-in (an unreadable api_port is not said to clash with ui_port)."""
    env = {
        "MARKET_SPINE_HOME": str(home),
        "MARKET_SPINE_API_PORT": "x",
        "MARKET_SPINE_UI_PORT": "8000",
    }
    with pytest.raises(InvalidInput) as caught:
        Settings.from_env(env)
    assert "is not a whole number" in str(caught.value)
    assert "cannot share a port" not in str(caught.value)


def test_every_bad_key_of_a_profile_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import market_spine.config.profiles as profiles
    from market_spine.config.file import read_profile
    from market_spine.errors import InvalidSettings

    root = tmp_path / "profiles"
    (root / "prod").mkdir(parents=True)
    (root / "prod" / "settings.toml").write_text(
        'provider = "ib"\nprofile = "dev"\nlake_secret_access_key = "s"\napi_prot = 8001\n'
    )
    monkeypatch.setattr(profiles, "PROFILES_ROOT", root)
    monkeypatch.setattr(profiles, "settings_file", lambda name, *_: root / name / "settings.toml")
    with pytest.raises(InvalidSettings) as caught:
        read_profile("prod")
    problems = caught.value.problems
    assert len(problems) == 3
    assert "holds 'profile', which a profile cannot set" in problems[0]
    assert "holds the secret lake_secret_access_key" in problems[1]
    assert "'api_prot'" in problems[2] and "did you mean api_port?" in problems[2]
