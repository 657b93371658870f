"""The Makefile's steps, read through `make -n` (printed, not run): they honour the home the
environment names."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _planned(target: str, env: dict[str, str]) -> str:
    """The commands `make` would run for `target`, every prerequisite remade (-B), none run."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed: the Makefile is how the platform installs")
    done = subprocess.run(
        ["make", "-n", "-B", "-C", str(REPO), target],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_install_prepares_the_home_the_environment_names(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    plan = _planned("install", {**os.environ, "MARKET_SPINE_HOME": str(home)})
    assert f'MARKET_SPINE_HOME="{home}"' in plan
    assert ".market_spine" not in plan
    assert not home.exists()


def test_install_defaults_to_the_repositorys_home() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MARKET_SPINE_HOME"}
    assert f'MARKET_SPINE_HOME="{REPO}/.market_spine"' in _planned("install", env)
    # Empty, as a Market Spine process holds it when no home is set: the default too.
    empty = _planned("install", env | {"MARKET_SPINE_HOME": ""})
    assert f'MARKET_SPINE_HOME="{REPO}/.market_spine"' in empty


def test_install_compiles_the_bytecode_every_command_imports() -> None:
    plan = _planned("install", dict(os.environ))
    assert "-m compileall -q -j 0 .venv/lib market_spine" in plan


def test_the_suite_installs_postgresql_when_its_binaries_are_missing() -> None:
    plan = _planned("test", dict(os.environ))
    assert "ls /usr/lib/postgresql/*/bin/initdb" in plan
    assert 'missing="$missing postgresql"' in plan
    assert "apt-get install -y -qq --no-install-recommends $missing" in plan
