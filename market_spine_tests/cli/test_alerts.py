"""`market-spine alerts test|list`: a test message reaches every sink on loopback, a dead sink
is named with exit 1, a bad rules file is one line naming the key, open alerts are listed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.operations.alerts.conditions import Observation
from market_spine.operations.alerts.engine import route
from market_spine.operations.alerts.rules import Kind, Severity, load_rules
from market_spine.operations.alerts.store import AlertStore
from market_spine_tests.operations.alerts.receivers import free_port, http_receiver, smtp_receiver

runner = CliRunner()

RULES = """
[sinks.hook]
type = "webhook"
url = "{hook}"

[sinks.slack]
type = "slack"
url = "{slack}"

[sinks.mail]
type = "email"
host = "127.0.0.1"
port = {smtp_port}
sender = "spine@example.com"
to = ["oncall@example.com"]

[delivery]
attempts = 1

[[rules]]
name = "all"
when = ["check_failed", "low_disk"]
sinks = ["hook", "slack", "mail"]
"""


@pytest.fixture
def env_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home.mkdir()
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    return home


def test_alerts_test_reaches_every_sink(env_home: Path) -> None:
    with http_receiver() as hook, http_receiver() as slack, smtp_receiver() as mail:
        (env_home / "alerts.toml").write_text(
            RULES.format(hook=hook.url, slack=slack.url, smtp_port=mail.port)
        )
        result = runner.invoke(app, ["alerts", "test"])
    assert result.exit_code == 0, result.output
    assert "hook (webhook): delivered" in result.output
    assert "slack (slack): delivered" in result.output
    assert "mail (email): delivered" in result.output
    assert hook.bodies()[0]["status"] == "test"
    assert slack.bodies()[0]["text"].startswith("[TEST]")
    assert mail.messages[0]["Subject"].startswith("[TEST]")


def test_alerts_test_names_the_sink_that_failed(env_home: Path) -> None:
    with http_receiver() as hook, smtp_receiver() as mail:
        dead = f"http://127.0.0.1:{free_port()}/"
        (env_home / "alerts.toml").write_text(
            RULES.format(hook=hook.url, slack=dead, smtp_port=mail.port)
        )
        result = runner.invoke(app, ["alerts", "test"])
        only = runner.invoke(app, ["alerts", "test", "--sink", "hook"])
    assert result.exit_code == 1
    assert "slack (slack): failed — ConnectError" in result.output
    assert "hook (webhook): delivered" in result.output
    assert "1 of 3 sinks failed: slack" in result.output
    assert only.exit_code == 0 and len(hook.bodies()) == 2


def test_alerts_test_says_failed_for_a_sink_that_did_not_take_the_message(
    env_home: Path,
) -> None:
    """A recipient the mail server refused and a webhook URL no request can be made to are
    failures with their cause, never "delivered"; the other sinks are still tried."""
    with http_receiver() as hook, smtp_receiver(refuse=("gone@example.com",)) as mail:
        rules = RULES.format(hook=hook.url, slack="http://127.0.0.1:bad/", smtp_port=mail.port)
        rules = rules.replace(
            'to = ["oncall@example.com"]', 'to = ["oncall@example.com", "gone@example.com"]'
        )
        (env_home / "alerts.toml").write_text(rules)
        result = runner.invoke(app, ["alerts", "test"], terminal_width=300)
    lines = result.output.splitlines()
    assert result.exit_code == 1, result.output
    [mail_line] = [line for line in lines if line.startswith("mail ")]
    assert mail_line.startswith("mail (email): failed — ")
    assert "refused gone@example.com (550" in mail_line and "(not retried)" in mail_line
    [slack_line] = [line for line in lines if line.startswith("slack ")]
    assert slack_line.startswith("slack (slack): failed — InvalidURL")
    assert "hook (webhook): delivered" in lines
    assert "delivered" not in mail_line + slack_line
    assert "2 of 3 sinks failed: slack, mail" in result.output
    # The recipient the server took got the test once: a partial delivery is not retried.
    assert [rcpts for _, rcpts in mail.envelopes] == [["oncall@example.com"]]


def test_alerts_commands_refuse_a_bad_or_missing_rules_file(env_home: Path) -> None:
    missing = runner.invoke(app, ["alerts", "test"])
    assert missing.exit_code == 2
    assert "copy alerts.example.toml there" in " ".join(missing.output.split())
    (env_home / "alerts.toml").write_text(
        '[sinks.hook]\ntype = "webhook"\nurl = "http://x"\nuri = 1\n'
    )
    bad = runner.invoke(app, ["alerts", "test"])
    assert bad.exit_code == 2
    assert "sinks.hook.uri: unknown key" in " ".join(bad.output.split())


def test_alerts_list_shows_the_open_alerts(state_home: Path, env_home: Path) -> None:
    empty = runner.invoke(app, ["alerts", "list", "--json"])
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    (env_home / "alerts.toml").write_text(
        RULES.format(hook="http://x", slack="http://y", smtp_port=25)
    )
    store = AlertStore(env_home)
    seen = Observation(
        Kind.CHECK_FAILED,
        subject="raw/spx_options_eod:validity",
        partition="2024-03-05",
        failing=True,
        severity=Severity.CRITICAL,
        summary="check raw/spx_options_eod:validity failed for 2024-03-05",
        at=datetime(2024, 3, 5, 14, tzinfo=UTC),
        datasets=("raw/spx_options_eod",),
        owners=("team:derivatives",),
    )
    route(load_rules(env_home / "alerts.toml"), store, [seen])
    listed = runner.invoke(app, ["alerts", "list", "--json"])
    (alert,) = json.loads(listed.stdout)
    assert alert["subject"] == "raw/spx_options_eod:validity"
    assert alert["owners"] == ["team:derivatives"]
    assert alert["undelivered"] == 3  # nothing delivered it yet: one message per sink is owed
    plain = runner.invoke(app, ["alerts", "list"])
    header, row = plain.stdout.splitlines()
    assert header.split("\t")[:3] == ["id", "severity", "rule"]
    assert row.split("\t")[1:5] == [
        "critical",
        "all",
        "check_failed",
        "raw/spx_options_eod:validity",
    ]
