"""What runs inside every dbt process (the dbt-duckdb plugin and what it imports) never imports
Dagster, and making the lake views never imports pandas (a second of every build): checked in a
fresh interpreter, where nothing else has imported them first."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import market_spine.warehouse.dbt_plugin as dbt_plugin

_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0].startswith("dagster"))))
"""


def test_the_dbt_plugin_never_imports_dagster() -> None:
    modules = [f"{dbt_plugin.__name__}.{m.name}" for m in pkgutil.iter_modules(dbt_plugin.__path__)]
    assert f"{dbt_plugin.__name__}.lake_plugin" in modules
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []


_VIEWS = """
import json, sys
import duckdb
from market_spine.lake.store import Lake
from market_spine.warehouse.dbt_plugin.lake_views import refresh_views
views = refresh_views(duckdb.connect(), Lake(sys.argv[1]))
print(json.dumps({"views": len(views), "held": sum(v is not None for v in views.values()),
                  "pandas": "pandas" in sys.modules}))
"""


def test_making_the_lake_views_never_imports_pandas(materialized_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _VIEWS, str(materialized_home / "lake")],
        capture_output=True,
        text=True,
        check=True,
    )
    said = json.loads(done.stdout)
    assert said["held"] >= 4 and said["views"] > said["held"], said
    assert said["pandas"] is False


def test_profiles_name_the_plugin_in_that_package() -> None:
    from market_spine.warehouse.paths import DBT_PROJECT_DIR

    profiles = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    assert f"module: {dbt_plugin.__name__}.lake_plugin" in profiles
