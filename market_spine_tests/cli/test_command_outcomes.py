"""A command's audit entry says how it ended: `keys create` and `keys revoke` name the key and
its role; a failed command is `failed` with its error, not merely invoked."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.config.identity import os_user
from market_spine_tests.cli.test_audit import trail

runner = CliRunner()


def test_keys_issued_and_revoked_are_attributed(env_home: Path) -> None:
    made = runner.invoke(app, ["keys", "create", "--role", "quant", "--name", "desk"])
    assert made.exit_code == 0, made.output
    [created] = trail(env_home, action="cli.keys")
    key_id = created["params"]["key_id"]
    assert created["outcome"] == "ok" and created["actor"] == os_user()
    assert created["params"]["role"] == "quant" and created["params"]["name"] == "desk"
    assert made.stdout.strip() not in str(created)  # the secret is never recorded
    revoked = runner.invoke(app, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    entry = trail(env_home, action="cli.keys")[-1]
    assert entry["outcome"] == "ok"
    assert entry["params"]["key_id"] == key_id and entry["params"]["role"] == "quant"


def test_a_failed_command_is_recorded_failed_with_its_error(env_home: Path) -> None:
    unknown = runner.invoke(app, ["keys", "revoke", "no-such-key"])
    assert unknown.exit_code == 2
    bad_role = runner.invoke(app, ["keys", "create", "--role", "root"])
    assert bad_role.exit_code == 2
    revoke, create = trail(env_home, action="cli.keys")
    assert revoke["outcome"] == "failed" and revoke["params"]["key_id"] == "no-such-key"
    assert "no-such-key" in revoke["params"]["error"]
    assert create["outcome"] == "failed" and create["params"]["role"] == "root"
    assert "root" in create["params"]["error"]
    assert "invoked" not in {revoke["outcome"], create["outcome"]}


def test_a_command_ending_with_exit_status_0_is_recorded_ok(env_home: Path) -> None:
    env_home.mkdir()
    checked = runner.invoke(app, ["company", "validate"])
    assert checked.exit_code == 0, checked.output
    [entry] = trail(env_home, action="cli.company")
    assert entry["outcome"] == "ok" and "error" not in entry["params"]
