"""Settings come from the environment over the home's settings file; every bad value names
itself, where it came from and the fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from market_spine.config.file import KEYS, SETTINGS_FILE
from market_spine.errors import InvalidInput, UnknownSymbol
from market_spine.settings import Settings


def test_defaults_put_everything_under_one_home(tmp_path: Path) -> None:
    s = Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path)})
    assert s.lake_root == tmp_path / "lake" and s.dagster_home == tmp_path / "dagster"
    assert s.provider == "simulated" and s.symbols == ("CL", "ES", "NG") and s.profile == "dev"


@pytest.mark.parametrize(
    ("env", "error", "text"),
    [
        ({"MARKET_SPINE_PROFILE": "staging"}, InvalidInput, "dev, test, prod"),
        ({"MARKET_SPINE_PROVIDER": "bloomberg"}, InvalidInput, "simulated"),
        ({"MARKET_SPINE_SYMBOLS": "CL,ZZ"}, UnknownSymbol, "ZZ"),
        ({"MARKET_SPINE_API_PORT": "70000"}, InvalidInput, "1..65535"),
        ({"MARKET_SPINE_SIM_SEED": "x"}, InvalidInput, "whole number"),
        ({"MARKET_SPINE_OPTIONS_PROVIDER": "cboe"}, InvalidInput, "simulated, thetadata"),
        ({"MARKET_SPINE_THETADATA_TIER": "gold"}, InvalidInput, "free, value, standard, pro"),
    ],
)
def test_bad_values_are_explained(tmp_path: Path, env: dict, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path), **env})


def test_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_text("")
    with pytest.raises(InvalidInput, match="is a file"):
        Settings.from_env({"MARKET_SPINE_HOME": str(file)})


def test_the_suite_never_reads_the_developers_home() -> None:
    repo_home = (Path(__file__).resolve().parents[1] / ".market_spine").resolve()
    assert Settings.home_from_env() != repo_home


# -- the home's settings file ------------------------------------------------------------------


def _file(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / SETTINGS_FILE).write_text(text)


def test_the_file_applies_and_the_environment_overrides_it(tmp_path: Path) -> None:
    _file(tmp_path, 'api_port = 8001\nsymbols = ["cl", "ng"]\nprovider = "IB"\n')
    s = Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path)})
    assert (s.api_port, s.symbols, s.provider) == (8001, ("CL", "NG"), "ib")
    env = {"MARKET_SPINE_HOME": str(tmp_path), "MARKET_SPINE_API_PORT": "8002"}
    assert Settings.from_env(env).api_port == 8002
    # An empty variable is unset: the file applies.
    env["MARKET_SPINE_API_PORT"] = ""
    assert Settings.from_env(env).api_port == 8001


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api_port = 70000\n", r"api_port='70000' in .*settings.toml is outside 1..65535"),
        ('provider = "bloomberg"\n', r"provider='bloomberg' in .*settings.toml is not one of"),
        ("nope = 1\n", r"'nope', which is not a setting; remove it with `market-spine config"),
        ("api_port = true\n", "not text, a whole number or a list of text"),
        ("api_port = \n", "is not valid TOML"),
    ],
)
def test_a_bad_file_is_explained_by_key_and_file(tmp_path: Path, text: str, message: str) -> None:
    _file(tmp_path, text)
    with pytest.raises(InvalidInput, match=message):
        Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path)})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MARKET_SPINE_UI_PORT": "8000"}, "cannot share a port.*config set ui_port 8001"),
        ({"MARKET_SPINE_PROVIDER": "ib", "MARKET_SPINE_IB_HOST": " "}, "ib_host is empty"),
        (
            {"MARKET_SPINE_OPTIONS_PROVIDER": "thetadata", "MARKET_SPINE_THETADATA_TIER": "free"},
            "end-of-day data only.*value, standard or pro",
        ),
        ({"MARKET_SPINE_THETADATA_URL": "127.0.0.1:25503"}, "not an http\\(s\\) URL"),
    ],
)
def test_settings_that_disagree_are_refused(tmp_path: Path, env: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path), **env})


def test_the_file_may_hold_every_setting_but_the_home() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)} - {"home"}
    assert set(KEYS) == fields


def test_authentication_is_on_unless_turned_off_outside_production(tmp_path: Path) -> None:
    base = {"MARKET_SPINE_HOME": str(tmp_path)}
    assert Settings.from_env(base).auth == "on"
    assert Settings.from_env({**base, "MARKET_SPINE_AUTH": "off"}).auth == "off"
    with pytest.raises(InvalidInput, match="local development only"):
        Settings.from_env({**base, "MARKET_SPINE_AUTH": "off", "MARKET_SPINE_PROFILE": "prod"})
    with pytest.raises(InvalidInput, match="MARKET_SPINE_AUTH"):
        Settings.from_env({**base, "MARKET_SPINE_AUTH": "maybe"})
    with pytest.raises(InvalidInput, match="OIDC_AUDIENCE"):
        Settings.from_env({**base, "MARKET_SPINE_OIDC_ISSUER": "https://login.example.com"})
    origins = {"MARKET_SPINE_API_ALLOWED_ORIGINS": "https://a.example/, https://b.example"}
    assert Settings.from_env({**base, **origins}).api_allowed_origins == (
        "https://a.example",
        "https://b.example",
    )


def test_auth_off_warns_loudly_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from dataclasses import replace

    from market_spine.api.app import create_app

    settings = replace(Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path)}), auth="off")
    with caplog.at_level("WARNING", logger="market_spine.api"):
        create_app(settings)
    assert "AUTHENTICATION IS OFF" in caplog.text


def test_a_lake_on_s3_takes_its_endpoint_credentials_and_encryption(tmp_path: Path) -> None:
    secret = tmp_path / "lake-secret"
    secret.write_text("s3cr3t\n")
    s = Settings.from_env(
        {
            "MARKET_SPINE_HOME": str(tmp_path / "home"),
            "MARKET_SPINE_LAKE_URI": "s3://market-data/spine/lake/",
            "MARKET_SPINE_LAKE_ENDPOINT": "http://127.0.0.1:9000",
            "MARKET_SPINE_LAKE_ACCESS_KEY_ID": "AKIA1",
            "MARKET_SPINE_LAKE_SECRET_ACCESS_KEY_FILE": str(secret),
            "MARKET_SPINE_LAKE_SSE": "aws:kms",
            "MARKET_SPINE_LAKE_SSE_KMS_KEY_ID": "key-1",
        }
    )
    assert s.lake_location == "s3://market-data/spine/lake"
    assert "s3cr3t" not in repr(s)
    options = s.lake_options()
    assert options is not None
    store = options.object_store()
    assert store["aws_secret_access_key"] == "s3cr3t" and store["aws_allow_http"] == "true"
    assert store["aws_server_side_encryption"] == "aws:kms"
    assert store["aws_sse_kms_key_id"] == "key-1"
    # Reads need no encryption headers.
    assert "aws_server_side_encryption" not in options.object_store(writes=False)
    local = Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path / "home")})
    assert local.lake_location == str(local.lake_root) and local.lake_options() is None


@pytest.mark.parametrize(
    ("env", "text"),
    [
        ({"MARKET_SPINE_LAKE_URI": "gs://bucket/lake"}, "s3://bucket/prefix"),
        ({"MARKET_SPINE_LAKE_URI": "s3:///lake"}, "s3://bucket/prefix"),
        ({"MARKET_SPINE_LAKE_URI": "s3://bkt", "MARKET_SPINE_LAKE_SSE": "rot13"}, "AES256"),
        ({"MARKET_SPINE_LAKE_URI": "s3://bkt", "MARKET_SPINE_LAKE_ENDPOINT": "ftp://x"}, "http"),
        (
            {"MARKET_SPINE_LAKE_URI": "s3://bkt", "MARKET_SPINE_LAKE_SSE_KMS_KEY_ID": "k"},
            "not aws:kms",
        ),
        ({"MARKET_SPINE_LAKE_SSE": "AES256"}, "the lake is local"),
    ],
)
def test_bad_lake_settings_are_explained(tmp_path: Path, env: dict, text: str) -> None:
    with pytest.raises(InvalidInput, match=text):
        Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path), **env})


def test_every_wrong_key_of_the_file_is_named_at_once(tmp_path: Path) -> None:
    _file(tmp_path, 'lake_endpoit = "http://x"\nlake_regoin = "eu"\napi_port = true\n')
    with pytest.raises(InvalidInput) as refused:
        Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path)})
    said = str(refused.value)
    assert "'lake_endpoit'" in said and "did you mean lake_endpoint" in said, said
    assert "'lake_regoin'" in said and "api_port = True" in said, said
    assert said.count("known settings:") == 1
