"""`market-spine keys create | list | revoke`: the secret printed once on stdout, never listed,
and a revoked key refused."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.security.keys import KeyRefused, KeyStore

runner = CliRunner()


def test_create_prints_the_key_once_and_list_never_shows_it(env_home: Path) -> None:
    made = runner.invoke(
        app,
        ["keys", "create", "--role", "quant", "--datasets", "normalized/*", "--name", "desk"],
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    record = KeyStore(env_home).check(token)
    assert (record.role, record.datasets, record.name) == ("quant", ("normalized/*",), "desk")
    assert record.expires_at is not None  # 90 days unless told otherwise
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0
    keys = json.loads(listed.stdout)
    assert [(k["id"], k["state"]) for k in keys] == [(record.id, "active")]
    secret = token.split("_", 2)[2]
    assert secret not in listed.stdout
    assert secret not in runner.invoke(app, ["keys", "list"]).stdout

    revoked = runner.invoke(app, ["keys", "revoke", record.id])
    assert revoked.exit_code == 0 and "within 10 s" in revoked.output
    try:
        KeyStore(env_home).check(token)
        raise AssertionError("a revoked key was accepted")
    except KeyRefused as exc:
        assert "revoked" in str(exc)
    assert json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)[0]["state"] == (
        "revoked"
    )


def test_bad_input_says_the_fix_and_issues_nothing(env_home: Path) -> None:
    bad_role = runner.invoke(app, ["keys", "create", "--role", "root"])
    assert bad_role.exit_code == 2 and "reader, quant" in bad_role.output
    bad_expiry = runner.invoke(app, ["keys", "create", "--expires", "soon"])
    assert bad_expiry.exit_code == 2 and "90d" in bad_expiry.output
    unknown = runner.invoke(app, ["keys", "revoke", "0123456789abcdef"])
    assert unknown.exit_code == 2 and "keys list" in unknown.output
    assert KeyStore(env_home).list() == []


def test_list_shows_each_keys_tenant_and_pii_scope(env_home: Path) -> None:
    bound = KeyStore(env_home).create("reader", name="acme-desk", tenant="acme").record
    clear = KeyStore(env_home).create("compliance", name="dpo", pii=True).record
    listed = {k["id"]: k for k in json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)}
    assert (listed[bound.id]["tenant"], listed[bound.id]["pii"]) == ("acme", False)
    assert (listed[clear.id]["tenant"], listed[clear.id]["pii"]) == (None, True)

    # A width that holds every column, whatever width the test process inherited.
    table = runner.invoke(app, ["keys", "list"], env={"COLUMNS": "250"})
    assert table.exit_code == 0, table.output
    header = next(line for line in table.stdout.splitlines() if "role" in line)
    assert "tenant" in header and "pii" in header
    bound_row = next(line for line in table.stdout.splitlines() if bound.id in line)
    clear_row = next(line for line in table.stdout.splitlines() if clear.id in line)
    assert "acme" in bound_row and "masked" in bound_row
    assert "every tenant" in clear_row and "clear" in clear_row


def test_a_blank_or_unknown_tenant_is_refused_unless_forced(env_home: Path) -> None:
    for blank in ("", "  "):
        made = runner.invoke(app, ["keys", "create", "--tenant", blank])
        assert made.exit_code == 2 and "leave --tenant out" in made.output
    for stray in (" acme", "ACME"):
        padded = runner.invoke(app, ["keys", "create", "--tenant", stray, "--force"])
        assert padded.exit_code == 2 and "not a tenant name" in padded.output
        assert "write 'acme'" in padded.output
    # No company dataset holds any tenant yet: a tenant is a guess until --force says not.
    guessed = runner.invoke(app, ["keys", "create", "--tenant", "acme"])
    assert guessed.exit_code == 2 and "no tenant's rows yet" in guessed.output
    assert "--force" in guessed.output
    assert KeyStore(env_home).list() == []
    forced = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--force"])
    assert forced.exit_code == 0, forced.output
    # The scope a key is issued with is said when it is issued, not only by `list`.
    assert "tenant acme; personal data masked" in forced.output
    (record,) = KeyStore(env_home).list()
    assert record.tenant == "acme"
