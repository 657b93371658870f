"""The command line stays cheap to start: its module, the settings every command validates and
the modules a read-only command loads import none of the heavy libraries they do not use
(PYTHONDONTWRITEBYTECODE=1 means every import compiles, so each costs seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Libraries no read-only command needs: dbt (and its Dagster integration) builds the
#: warehouse, pandas and polars shape data, pandas_market_calendars knows sessions.
HEAVY = ("dbt", "dagster_dbt", "pandas", "polars", "pandas_market_calendars", "duckdb")

LOADED = """
import importlib, json, sys
from market_spine.settings import Settings
for name in sys.argv[1:]:
    importlib.import_module(name)
Settings.from_env()
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _heavy_after(home: Path, *modules: str) -> list[str]:
    """The heavy libraries loaded once `modules` are imported and the settings validated."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *modules],
        env={**os.environ, "MARKET_SPINE_HOME": str(home), "MARKET_SPINE_SYMBOLS": "CL,ES,NG"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [name for name in json.loads(done.stdout) if name in HEAVY]


@pytest.mark.parametrize(
    "modules",
    [
        ("market_spine.cli",),
        ("market_spine.cli", "market_spine.operations.status", "market_spine.home"),
        ("market_spine.cli", "market_spine.operations.run_history"),
        ("market_spine.cli", "market_spine.catalog.listing"),
    ],
    ids=["cli and settings", "status", "runs", "catalog"],
)
def test_read_only_commands_load_no_heavy_library(modules: tuple[str, ...], tmp_path: Path) -> None:
    assert _heavy_after(tmp_path / "home", *modules) == []
