"""The rules file: the repo's example is valid, and a bad file is an error naming the file,
the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from market_spine.errors import InvalidInput
from market_spine.operations.alerts.rules import Kind, Severity, load_rules
from market_spine_tests.kit.homes import REPO

GOOD = """
[sinks.hook]
type = "webhook"
url = "http://127.0.0.1:9/alerts"

[[rules]]
name = "everything"
when = ["check_failed"]
sinks = ["hook"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(text)
    return path


def test_the_example_file_is_valid() -> None:
    rules = load_rules(REPO / "alerts.example.toml")
    assert set(rules.sinks) == {"ops-webhook", "derivatives-slack", "oncall-mail"}
    kinds = {kind for rule in rules.rules for kind in rule.when}
    assert kinds == set(Kind)


def test_defaults_route_every_severity_to_any_owner(tmp_path: Path) -> None:
    (rule,) = load_rules(write(tmp_path, GOOD)).rules
    assert rule.severities == list(Severity)
    assert rule.owners == [] and rule.datasets == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('url = "http://127.0.0.1:9/alerts"', 'url = "http://127.0.0.1:9/alerts"\nretries = 3'),
            "sinks.hook.retries: unknown key; allowed here: url, url_env, headers, timeout_s, type",
        ),
        (
            ('when = ["check_failed"]', 'when = ["check_failed"]\nseverity = ["critical"]'),
            "rules[0].severity: unknown key; allowed here: name, when, severities, owners",
        ),
        (
            ('when = ["check_failed"]', 'when = ["check_fails"]'),
            "rules[0].when[0] = 'check_fails': Input should be 'check_failed', 'freshness'",
        ),
        (
            ('when = ["check_failed"]', 'when = ["check_failed"]\nseverities = ["fatal"]'),
            "rules[0].severities[0] = 'fatal': Input should be 'critical', 'error' or 'warning'",
        ),
        (
            ('sinks = ["hook"]', 'sinks = ["pager"]'),
            "rules[0] (everything) sends to unknown sink(s) pager; declared sinks: hook",
        ),
        (
            ('type = "webhook"', 'type = "teams"'),
            "sinks.hook.type: Input tag 'teams' found using 'type' does not match any of the "
            "expected tags: 'webhook', 'slack', 'email'",
        ),
        (
            ('url = "http://127.0.0.1:9/alerts"', 'url = "127.0.0.1:9/alerts"'),
            "sinks.hook.url = '127.0.0.1:9/alerts': must start with http:// or https://",
        ),
        (
            ('url = "http://127.0.0.1:9/alerts"', ""),
            "sinks.hook: give exactly one of url and url_env",
        ),
        (('name = "everything"\n', ""), "rules[0].name: missing; add it"),
        (("[[rules]]", "[thresholds]\ndisk_min_free_gb = -1\n[[rules]]"), "disk_min_free_gb = -1"),
        (("[[rules]]", "[[rules]"), "not valid TOML"),
    ],
)
def test_a_bad_rules_file_names_the_key_and_the_fix(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change, 1))
    with pytest.raises(InvalidInput) as error:
        load_rules(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ")
    assert message in text


def test_email_sink_rules(tmp_path: Path) -> None:
    mail = """
[sinks.mail]
type = "email"
host = "127.0.0.1"
starttls = true
ssl = true
password_env = "X"
sender = "nobody"
to = []
"""
    path = write(tmp_path, GOOD.replace('sinks = ["hook"]', 'sinks = ["mail"]') + mail)
    with pytest.raises(InvalidInput) as error:
        load_rules(path)
    text = str(error.value)
    assert "sinks.mail.sender = 'nobody': 'nobody' is not an email address" in text
    assert "sinks.mail.to: List should have at least 1 item" in text
