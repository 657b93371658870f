"""The Prometheus alert rules in deploy/prometheus: valid for promtool, their unit tests pass
(a breach fires), every alert kind the platform routes has a rule, and every metric a rule
reads is one the API serves."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest

from market_spine.api.app import create_app
from market_spine.home import instance as home_instance
from market_spine.operations.alerts.rules import Kind
from market_spine_tests.kit.homes import REPO, settings_for

RULES_DIR = REPO / "deploy" / "prometheus"
RULES = RULES_DIR / "market_spine_rules.yml"
RULE_TESTS = RULES_DIR / "market_spine_rules.test.yml"
_SUFFIXES = ("_bucket", "_count", "_sum")


def promtool() -> str:
    """promtool's path. Under CI its absence fails the test; elsewhere it skips, naming the
    make target that installs it (`make test` runs that target first)."""
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed: `make system-packages` installs Debian's prometheus"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in done.stdout


def test_a_breach_fires_in_promtools_unit_tests() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_kind_has_a_rule_with_its_severities() -> None:
    kinds = {rule["labels"]["kind"] for rule in _rules()}
    assert {k.value for k in Kind} <= kinds
    severities = {rule["labels"]["severity"] for rule in _rules()}
    assert severities == {"critical", "error", "warning"}


def test_every_metric_a_rule_reads_is_served(home: Path) -> None:
    home_instance(settings_for(home))  # the home's collector reads its instance
    app = create_app(settings_for(home))
    served = set(
        re.findall(r"^# TYPE (\S+) ", generate_latest(app.state.metrics.registry).decode(), re.M)
    )
    read = {
        name
        for rule in _rules()
        for name in re.findall(r"\b(market_spine_[a-z0-9_]+)", rule["expr"])
    }
    unserved = set()
    for name in read:
        base = next((name.removesuffix(s) for s in _SUFFIXES if name.endswith(s)), name)
        if name not in served and base not in served:
            unserved.add(name)
    assert read and not unserved, f"rules read metrics /metrics does not serve: {unserved}"
