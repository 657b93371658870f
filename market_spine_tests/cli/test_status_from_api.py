"""`market-spine status` reads the report the home's API computed, so it answers without loading
Dagster; another home's API on the port, or none, and the command computes its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.api.app import create_app
from market_spine.cli import app
from market_spine.cli.status import from_api
from market_spine.security.bootstrap import ensure_admin_key
from market_spine_tests.kit.api import serving_app
from market_spine_tests.kit.homes import settings_for

runner = CliRunner()


def _port(client) -> int:
    return int(str(client.base_url).rsplit(":", 1)[1].rstrip("/"))


def test_status_is_the_report_the_homes_api_computed(
    env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_admin_key(env_home)
    with serving_app(create_app(settings_for(env_home))) as api:
        monkeypatch.setenv("MARKET_SPINE_API_PORT", str(_port(api)))
        before = api.get("/v1/status", params={"verify": "false"}).json()
        kept = api.get("/v1/status", params={"verify": "false"}).json()
        result = runner.invoke(app, ["status", "--json", "--no-verify"])
        after = api.get("/v1/status", params={"verify": "false"}).json()
        local = runner.invoke(app, ["status", "--json", "--no-verify", "--local"])
    shown = json.loads(result.output)
    # A burst is answered from the kept report; the command asks for one computed now, and
    # that report is the one the API keeps next.
    assert kept["generated_at"] == before["generated_at"]
    assert before["generated_at"] < shown["generated_at"] == after["generated_at"]
    assert shown["health"] == after["health"]
    assert result.exit_code == (0 if after["ok"] else 1)
    assert json.loads(local.output)["generated_at"] != shown["generated_at"]
    api_health = {h["name"]: h for h in shown["health"]}["api"]
    assert api_health["ok"], api_health


def test_another_homes_api_is_not_asked(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ensure_admin_key(theirs)
    with serving_app(create_app(settings_for(theirs))) as api:
        port = str(_port(api))
        env = {"MARKET_SPINE_PROFILE": "dev", "MARKET_SPINE_API_PORT": port}
        mine = settings_for(ours).__class__.from_env({**env, "MARKET_SPINE_HOME": str(ours)})
        their = mine.__class__.from_env({**env, "MARKET_SPINE_HOME": str(theirs)})
        assert from_api(mine, verify=False) is None
        assert from_api(their, verify=False) is not None


def test_no_api_means_no_report_from_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home").__class__.from_env(
        {"MARKET_SPINE_HOME": str(tmp_path / "home"), "MARKET_SPINE_API_PORT": "9"}
    )
    assert from_api(settings, verify=False) is None


def test_reading_the_apis_report_loads_no_dagster(env_home: Path) -> None:
    ensure_admin_key(env_home)
    with serving_app(create_app(settings_for(env_home))) as api:
        code = (
            "import sys\n"
            "from market_spine.cli.status import from_api\n"
            "from market_spine.settings import Settings\n"
            "assert from_api(Settings.from_env(), verify=False) is not None\n"
            "print(sorted(m for m in ('dagster', 'pandas', 'polars') if m in sys.modules))\n"
        )
        env = {
            "MARKET_SPINE_HOME": str(env_home),
            "MARKET_SPINE_API_PORT": str(_port(api)),
            "PATH": "/usr/bin:/bin",
        }
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
    assert out.stdout.strip() == "[]", out.stderr


def test_the_apis_report_judges_settings_changed_since_it_started(env_home: Path) -> None:
    """`config set` changes the home's file while the API serves: the next report judges the
    new settings (a dead ThetaData terminal), not the ones the API started with."""
    with serving_app(create_app(settings_for(env_home))) as api:
        before = api.get("/v1/status", params={"verify": "false", "max_age": 0}).json()
        for key, value in (
            ("thetadata_url", "http://127.0.0.1:9/v3"),
            ("options_provider", "thetadata"),
        ):
            changed = runner.invoke(app, ["config", "set", key, value])
            assert changed.exit_code == 0, changed.output
        after = api.get("/v1/status", params={"verify": "false", "max_age": 0}).json()
    details = {h["name"]: h for h in after["health"]}
    assert not any("127.0.0.1:9" in h["detail"] for h in before["health"])
    dead = [h for h in details.values() if "127.0.0.1:9" in h["detail"]]
    assert dead and not any(h["ok"] for h in dead), details
    assert not after["ok"]
