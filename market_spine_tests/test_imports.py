"""Nothing reads the environment at import: every module of the package imports under settings
that would fail validation, because settings are read when definitions are built or a command
runs, never as a side effect of an import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from market_spine_tests.kit.homes import REPO

#: Imports every module (a package's `__main__` runs its command, so it is left out), then
#: shows the environment really is invalid: reading the settings from it must fail.
IMPORT_ALL = """
import importlib, pkgutil
import market_spine
from market_spine.errors import SpineError
names = [
    m.name
    for m in pkgutil.walk_packages(market_spine.__path__, "market_spine.")
    if not m.name.endswith(".__main__")
]
for name in names:
    importlib.import_module(name)
from market_spine.settings import Settings
try:
    Settings.from_env()
except SpineError as exc:
    print(len(names), type(exc).__name__)
else:
    print(len(names), "valid")
"""


def _poisons(tmp_path: Path) -> dict[str, dict[str, str]]:
    """Each names an instruments file that cannot be read and symbols that do not exist."""
    bad_toml = tmp_path / "instruments.toml"
    bad_toml.write_text("[instruments.6E\nname = 1\n")
    symbols = {"MARKET_SPINE_SYMBOLS": "CL,ZZ"}
    return {
        "missing file": {"MARKET_SPINE_INSTRUMENTS": str(tmp_path / "missing.toml"), **symbols},
        "invalid file": {"MARKET_SPINE_INSTRUMENTS": str(bad_toml), **symbols},
    }


@pytest.mark.parametrize("poison", ["missing file", "invalid file"])
def test_every_module_imports_under_an_invalid_environment(poison: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MARKET_SPINE_HOME": str(tmp_path / "home"),
        **_poisons(tmp_path)[poison],
    }
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    count, outcome = done.stdout.split()[-2:]
    assert int(count) > 100, done.stdout
    assert outcome in ("InvalidInput", "UnknownSymbol"), "the environment was meant to be invalid"
