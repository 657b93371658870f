"""`market-spine config`: settings persisted in the home, beneath the environment, validated the
way every command validates them, each change in the history, secrets never shown."""

from __future__ import annotations

import getpass
import json
import socket
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.config.connectivity import probe_ib
from market_spine.config.file import SETTINGS_FILE
from market_spine.config.history import HISTORY_FILE
from market_spine.fakes.thetaterminal import FakeThetaTerminal
from market_spine.fakes.tws import FakeTWS
from market_spine.settings import Settings

runner = CliRunner()
SECRET_URL = "http://quant:hunter2@127.0.0.1:25503/v3?api_key=s3cr3t"


def config(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `market-spine config ARGS`."""
    result = runner.invoke(app, ["config", *args])
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def _history(home: Path) -> list[dict]:
    code, out, err = config("history", "--json")
    assert code == 0, err
    return json.loads(out)


def test_set_get_reset_round_trip(env_home: Path) -> None:
    assert config("set", "api_port", "8001")[0] == 0
    assert config("set", "symbols", "cl, es")[0] == 0
    code, out, err = config("get", "api_port")
    assert (code, out.strip(), err) == (0, "8001", "from file")
    # Every command reads the persisted settings.
    settings = Settings.from_env()
    assert (settings.api_port, settings.symbols) == (8001, ("CL", "ES"))
    assert 'symbols = [\n    "CL",\n    "ES",\n]' in (env_home / SETTINGS_FILE).read_text()

    assert config("reset", "api_port")[0] == 0
    assert config("get", "api_port")[1].strip() == "8000"
    assert Settings.from_env().symbols == ("CL", "ES")
    assert config("reset", "--all")[0] == 0
    assert not (env_home / SETTINGS_FILE).exists()
    assert Settings.from_env().symbols == ("CL", "ES", "NG")
    code, _, err = config("reset", "api_port")
    assert code == 0 and "nothing to reset" in err


def test_a_negative_value_needs_no_double_dash(env_home: Path) -> None:
    # A value with a leading dash is a value, not an unknown option: it reaches validation,
    # which names the range.
    code, _, err = config("set", "retention_days", "-5")
    assert code == 2 and "outside 0..36500" in err and "No such option" not in err
    assert not (env_home / SETTINGS_FILE).exists()
    assert config("set", "retention_days", "30")[0] == 0
    assert Settings.from_env().retention_days == 30


def test_reset_without_a_setting_refuses_unless_all(env_home: Path) -> None:
    assert config("set", "api_port", "8001")[0] == 0
    assert config("set", "retention_days", "30")[0] == 0
    code, _, err = config("reset")
    assert code == 2 and "api_port, retention_days" in err and "--all" in err
    assert Settings.from_env().api_port == 8001  # nothing reset
    code, _, err = config("reset", "api_port", "--all")
    assert code == 2 and "not both" in err
    assert config("reset", "--all")[0] == 0
    assert Settings.from_env().api_port == 8000


def test_the_environment_overrides_the_file(
    env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert config("set", "ui_port", "3001")[0] == 0
    monkeypatch.setenv("MARKET_SPINE_UI_PORT", "3002")
    code, out, err = config("get", "ui_port")
    assert (out.strip(), err) == ("3002", "from environment MARKET_SPINE_UI_PORT")
    assert Settings.from_env().ui_port == 3002
    code, _, err = config("set", "ui_port", "3003")
    assert code == 0 and "MARKET_SPINE_UI_PORT is set in the environment" in err
    rows = {e["key"]: e for e in json.loads(config("get", "--json")[1])}
    assert (rows["ui_port"]["value"], rows["ui_port"]["origin"]) == (3002, "environment")
    assert (rows["api_port"]["value"], rows["api_port"]["origin"]) == (8000, "default")
    monkeypatch.delenv("MARKET_SPINE_UI_PORT")
    assert Settings.from_env().ui_port == 3003


def test_history_records_who_when_old_and_new(env_home: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    for args in (("set", "api_port", "8001"), ("set", "api_port", "8002"), ("reset", "--all")):
        assert config(*args)[0] == 0
    assert config("set", "api_port", "8000")[0] == 0
    assert config("set", "api_port", "8000")[2] == "api_port is already 8000: nothing changed"
    changes = _history(env_home)
    assert [(c["action"], c["key"], c["old"], c["new"]) for c in changes] == [
        ("set", "api_port", None, 8001),
        ("set", "api_port", 8001, 8002),
        ("reset", "api_port", 8002, None),
        ("set", "api_port", None, 8000),
    ]
    assert {c["user"] for c in changes} == {getpass.getuser()}
    for c in changes:
        at = datetime.fromisoformat(c["at"])
        assert at.utcoffset().total_seconds() == 0 and before <= at <= datetime.now(UTC)
    _, out, _ = config("history")
    assert f"{getpass.getuser()}  set api_port: 8001 → 8002" in out
    assert "reset api_port: 8002 → default" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "api_port", "eighty"), "api_port was not changed ("),
        (
            ("set", "api_port", "eighty"),
            "the value given for api_port, 'eighty', is not a whole number; set it to e.g. 8000",
        ),
        (("set", "provider", "bloomberg"), "is not one of simulated, ib"),
        (("set", "symbols", "CL,ZZ"), "ZZ"),
        (
            ("set", "api_prot", "8001"),
            "'api_prot' is not a setting (did you mean api_port?); known",
        ),
        (("set", "ui_port", "8001"), "cannot share a port"),
        (("set", "thetadata_tier", "free"), "end-of-day data only"),
        (("set", "api_host", " "), "config reset api_host"),
        (("reset", "api_prot"), "'api_prot' is not a setting"),
    ],
)
def test_a_bad_value_is_refused_and_nothing_written(
    env_home: Path, args: tuple[str, ...], message: str
) -> None:
    assert config("set", "api_port", "8001")[0] == 0
    assert config("set", "options_provider", "thetadata")[0] == 0
    settings_file, history_file = env_home / SETTINGS_FILE, env_home / HISTORY_FILE
    kept = settings_file.read_bytes(), history_file.read_bytes()
    code, _, err = config(*args)
    assert code == 2 and message in err, err
    assert "Traceback" not in err
    assert (settings_file.read_bytes(), history_file.read_bytes()) == kept


@pytest.mark.parametrize(
    ("key", "value"), [("api_port", "eighty"), ("provider", "bloomberg"), ("retention_days", "-1")]
)
def test_a_refused_value_is_never_shown_as_set_or_as_held_by_the_file(
    env_home: Path, key: str, value: str
) -> None:
    code, out, err = config("set", key, value)
    assert code == 2 and not out
    # Neither `key = value` (how a change reads) nor the file named as holding the value.
    assert f"{key} = {value!r}" not in err and f"{key}={value!r} in" not in err, err
    assert f"{key}: " not in err and "→" not in err, err
    assert f"{key} was not changed" in err and f"the value given for {key}, {value!r}," in err
    assert not (env_home / SETTINGS_FILE).exists()


def test_a_bad_environment_is_named_when_setting(
    env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_SPINE_UI_PORT", "8001")
    code, _, err = config("set", "api_port", "8001")
    assert code == 2 and "cannot share a port" in err
    assert not (env_home / SETTINGS_FILE).exists() and not (env_home / HISTORY_FILE).exists()


def test_validate_reaches_thetadata(env_home: Path) -> None:
    assert config("set", "options_provider", "thetadata")[0] == 0
    with FakeThetaTerminal() as terminal:
        assert config("set", "thetadata_url", terminal.url)[0] == 0
        code, _, err = config("validate")
        assert code == 0, err
        assert f"ok thetadata: {terminal.url} is a v3 terminal" in err
        assert "skipped ib: not used (provider is simulated)" in err
    code, _, err = config("validate")
    assert code == 1
    assert f"unreachable thetadata: nothing answers at {terminal.url}" in err
    assert "start the ThetaTerminal" in err
    code, _, err = config("validate", "--offline")
    assert code == 0 and "connectivity not probed" in err


@pytest.mark.parametrize("suffix", ["", "/v2"])
def test_validate_refuses_a_url_that_is_not_v3(env_home: Path, suffix: str) -> None:
    """A terminal answers 404 under its root or /v2: reachable, but not the API the adapter
    speaks, so validation fails and names the URL to use."""
    assert config("set", "options_provider", "thetadata")[0] == 0
    with FakeThetaTerminal() as terminal:
        url = terminal.url.removesuffix("/v3") + suffix
        assert config("set", "thetadata_url", url)[0] == 0
        code, _, err = config("validate")
    assert code == 1, err
    assert "this is not a v3 terminal URL: use http://127.0.0.1:25503/v3" in err
    assert "v2 API is not supported" in err


def test_validate_reaches_ib(env_home: Path) -> None:
    assert config("set", "provider", "ib")[0] == 0
    with FakeTWS.running() as tws:
        assert config("set", "ib_port", str(tws.port))[0] == 0
        code, _, err = config("validate")
        assert code == 0, err
        assert f"ok ib: 127.0.0.1:{tws.port} accepts connections" in err
    code, _, err = config("validate")
    assert code == 1
    assert f"unreachable ib: nothing accepts connections at 127.0.0.1:{tws.port}" in err


def test_validate_names_a_bad_setting(env_home: Path) -> None:
    (env_home).mkdir()
    (env_home / SETTINGS_FILE).write_text("ib_port = 0\n")
    code, _, err = config("validate")
    assert code == 2 and "ib_port='0' in" in err and "outside 1..65535" in err


def test_secrets_are_refused_by_set_and_masked_when_shown(env_home: Path) -> None:
    code, out, err = config("set", "thetadata_url", SECRET_URL)
    assert code == 2 and "carries a credential" in err
    assert "hunter2" not in out + err and "s3cr3t" not in out + err
    assert not (env_home / SETTINGS_FILE).exists()
    assert config("set", "thetadata_url", "http://127.0.0.1:25503/v3")[0] == 0
    assert stat.S_IMODE((env_home / SETTINGS_FILE).stat().st_mode) == 0o600
    # A file that holds one anyway (written by hand) is read, and never shown in clear.
    (env_home / SETTINGS_FILE).write_text(f'thetadata_url = "{SECRET_URL}"\n')
    masked = "http://***@127.0.0.1:25503/v3?api_key=***"
    shown = [config("get")[1], config("get", "--json")[1], config("history")[1]]
    shown.append((env_home / HISTORY_FILE).read_text())
    assert all("hunter2" not in text and "s3cr3t" not in text for text in shown)
    assert masked in config("get", "thetadata_url")[1]


def test_the_ib_probe_closes_its_connection() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert probe_ib("127.0.0.1", server.getsockname()[1]).ok
        conn, _ = server.accept()
        with conn:
            assert conn.recv(1) == b""
