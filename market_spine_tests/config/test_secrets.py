"""Credentials are secret values: a ThetaTerminal password given in MARKET_SPINE_THETADATA_URL
(or MARKET_SPINE_THETADATA_CREDENTIALS, or a `*_FILE`) reaches the terminal, and nowhere else:
not the console, the settings' repr, run config, tags, the event log, run logs, the resource
config the UI shows, the settings history or the audit trail."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from market_spine.config.file import SettingSources
from market_spine.config.history import change
from market_spine.config.secrets import mask_arguments, split_credentials
from market_spine.errors import InvalidInput
from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal
from market_spine.providers.resource import MarketDataResource
from market_spine.runs import provenance
from market_spine.runs.launch import materialize_options
from market_spine.settings import Settings

SECRET = "hunter2-Zq9"
DAY = date(2024, 3, 5)


def test_user_info_is_split_off_the_url() -> None:
    clean, secret = split_credentials("https://trader:p%40ss@terminal:25503/v3?x=1")
    assert clean == "https://terminal:25503/v3?x=1"
    assert secret is not None and secret.get_secret_value() == "trader:p@ss"
    assert split_credentials("http://127.0.0.1:25503/v3") == ("http://127.0.0.1:25503/v3", None)


def test_settings_hold_the_credential_apart_and_never_show_it(tmp_path: Path) -> None:
    env = {
        "MARKET_SPINE_HOME": str(tmp_path),
        "MARKET_SPINE_THETADATA_URL": f"http://trader:{SECRET}@127.0.0.1:25503/v3",
    }
    settings = Settings.from_env(env)
    assert settings.thetadata_url == "http://127.0.0.1:25503/v3"
    assert settings.thetadata_credentials is not None
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    resource = MarketDataResource.from_settings(settings)
    config = provenance.resources_config(settings, resource, {"market", "lake"})
    tags = provenance.provider_tags(resource)
    assert SECRET not in repr(config) + repr(tags) + repr(resource)


def test_a_bad_url_names_the_variable_without_its_credential(tmp_path: Path) -> None:
    env = {"MARKET_SPINE_HOME": str(tmp_path), "MARKET_SPINE_THETADATA_URL": f"ftp://u:{SECRET}@h"}
    with pytest.raises(InvalidInput) as caught:
        Settings.from_env(env)
    assert "MARKET_SPINE_THETADATA_URL" in str(caught.value) and SECRET not in str(caught.value)


def test_secrets_and_other_settings_may_come_from_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "theta"
    secret_file.write_text(f"trader:{SECRET}\n")
    port_file = tmp_path / "port"
    port_file.write_text("8123\n")
    env = {
        "MARKET_SPINE_HOME": str(tmp_path),
        "MARKET_SPINE_THETADATA_CREDENTIALS_FILE": str(secret_file),
        "MARKET_SPINE_API_PORT_FILE": str(port_file),
    }
    settings = Settings.from_env(env)
    assert settings.thetadata_credentials is not None
    assert settings.thetadata_credentials.get_secret_value() == f"trader:{SECRET}"
    assert settings.api_port == 8123
    assert SettingSources.of(env, tmp_path).origin("MARKET_SPINE_API_PORT") == "environment"
    env["MARKET_SPINE_THETADATA_CREDENTIALS_FILE"] = str(tmp_path / "missing")
    with pytest.raises(
        InvalidInput, match=r"MARKET_SPINE_THETADATA_CREDENTIALS_FILE=.*cannot be read"
    ):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("key", "raw", "variable"),
    [
        ("thetadata_credentials", f"trader:{SECRET}", "MARKET_SPINE_THETADATA_CREDENTIALS"),
        ("lake_secret_access_key", SECRET, "MARKET_SPINE_LAKE_SECRET_ACCESS_KEY"),
        ("pii_hash_key", SECRET * 3, "MARKET_SPINE_PII_HASH_KEY"),
        ("thetadata_url", f"http://trader:{SECRET}@127.0.0.1:2/v3", "MARKET_SPINE_THETADATA_URL"),
        ("audit_anchor", f"https://anchor.example/log?token={SECRET}", "MARKET_SPINE_AUDIT_ANCHOR"),
    ],
)
def test_config_set_refuses_a_secret_and_names_the_ways_to_give_it(
    tmp_path: Path, key: str, raw: str, variable: str
) -> None:
    """`config set` never writes a secret into the settings file in clear: it says how to give
    it (the environment, or a secret file named by the variable's `_FILE`), without echoing it,
    and writes nothing."""
    from market_spine.config.edit import set_value
    from market_spine.config.file import read_file

    env = {"MARKET_SPINE_HOME": str(tmp_path)}
    with pytest.raises(InvalidInput) as refused:
        set_value(env, key, raw)
    message = str(refused.value)
    assert SECRET not in message and key in message
    assert f"export {variable}" in message and f"{variable}_FILE" in message
    assert "was not written" in message
    if key == "thetadata_url":
        assert "MARKET_SPINE_THETADATA_CREDENTIALS" in message
    assert read_file(tmp_path) == {}
    # The same URL without its credential is an ordinary setting.
    if key == "thetadata_url":
        set_value(env, key, "http://127.0.0.1:2/v3")
        assert read_file(tmp_path)[key] == "http://127.0.0.1:2/v3"


def test_a_secret_from_a_secret_file_is_read_whole(tmp_path: Path) -> None:
    secret_file = tmp_path / "theta"
    secret_file.write_text(f"trader:{SECRET}\n")
    settings = Settings.from_env(
        {
            "MARKET_SPINE_HOME": str(tmp_path),
            "MARKET_SPINE_THETADATA_CREDENTIALS_FILE": str(secret_file),
        }
    )
    assert settings.thetadata_credentials is not None
    assert settings.thetadata_credentials.get_secret_value() == f"trader:{SECRET}"


def test_secret_settings_are_masked_in_history_and_command_lines() -> None:
    recorded = change("set", "thetadata_credentials", None, f"trader:{SECRET}")
    assert recorded.new == "***"
    args = ["config", "set", "thetadata_credentials", f"trader:{SECRET}"]
    assert mask_arguments(args) == ["config", "set", "thetadata_credentials", "***"]
    assert mask_arguments(["x", f"http://u:{SECRET}@h/v3"]) == ["x", "http://***@h/v3"]


def test_a_run_against_a_terminal_with_credentials_keeps_them_secret(
    home: Path,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    config = FakeThetaConfig(today=DAY, concurrency=4)
    with FakeThetaTerminal(config, credentials=f"trader:{SECRET}") as terminal:
        url = terminal.url.replace("http://", f"http://trader:{SECRET}@")
        env = {
            "MARKET_SPINE_HOME": str(home),
            "MARKET_SPINE_PROFILE": "dev",
            "MARKET_SPINE_OPTIONS_PROVIDER": "thetadata",
            "MARKET_SPINE_THETADATA_TIER": "value",
            "MARKET_SPINE_THETADATA_URL": url,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = Settings.from_env()
        market = MarketDataResource.from_settings(settings)
        run = materialize_options(
            settings, DAY, DAY, instance=instance, market=market, log_level="DEBUG"
        )
        assert run is not None and run.success, run
        assert terminal.authorized and set(terminal.authorized) == {"trader"}

    dagster_run = instance.get_run_by_id(run.run_id)
    assert dagster_run is not None
    seen = serialize_value(dagster_run) + "".join(
        serialize_value(e) for e in instance.all_logs(run.run_id)
    )
    token = base64.b64encode(f"trader:{SECRET}".encode()).decode()
    assert SECRET not in seen and token not in seen
    assert "127.0.0.1" in serialize_value(dagster_run.run_config)  # the endpoint is there
    # What the UI shows of the resource: its config as the code location defines it.
    from market_spine.definitions import build_definitions

    definitions = build_definitions(settings)
    market_resource = definitions.resources["market"]
    assert SECRET not in repr(market_resource)
    captured = capfd.readouterr()
    assert SECRET not in captured.out + captured.err
    for path in [*Path(instance.root_directory).rglob("*"), *home.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and token.encode() not in data, path


def test_the_lake_secret_key_is_masked_and_stays_out_of_run_config(tmp_path: Path) -> None:
    recorded = change("set", "lake_secret_access_key", None, SECRET)
    assert recorded.new == "***"
    args = ["config", "set", "lake_secret_access_key", SECRET]
    assert mask_arguments(args) == ["config", "set", "lake_secret_access_key", "***"]
    settings = Settings.from_env(
        {
            "MARKET_SPINE_HOME": str(tmp_path),
            "MARKET_SPINE_LAKE_URI": "s3://bucket/lake",
            "MARKET_SPINE_LAKE_SECRET_ACCESS_KEY": SECRET,
        }
    )
    config = provenance.resources_config(settings, MarketDataResource(), {"lake"})
    assert config == {"lake": {"config": {"root": "s3://bucket/lake"}}}
    assert SECRET not in repr(settings)
