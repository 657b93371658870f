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


_CONNECT = """
import json, sys, warnings
from pathlib import Path
import duckdb
from market_spine.warehouse.dbt_plugin.lake_plugin import Plugin
home = Path(sys.argv[1])
plugin = Plugin.__new__(Plugin)
plugin.creds = None
plugin.initialize({"lake_root": str(home / "lake")})
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    plugin.configure_connection(duckdb.connect())
before = sorted(m for m in sys.modules if m.split(".")[0] in ("dagster", "pandera", "pandas"))
from market_spine.catalog.registry import CATALOG
print(json.dumps({"imported": before, "catalogued": "normalized/company_notes" in CATALOG.entries}))
"""

_NOTES = """type: market_spine.company.component.CompanyDataset
attributes:
  name: notes
  description: Notes on accounts.
  owner: team:legal
  kind: dimension
  source: {kind: files, path: drop, format: csv, pattern: "*.csv"}
  columns:
    - {name: note_id, type: string, description: The note.}
    - {name: body, type: string, description: What it says.}
  keys: [note_id]
"""


def test_opening_the_warehouse_reads_the_homes_datasets_without_dagster(
    materialized_home: Path, tmp_path: Path
) -> None:
    """What dbt's connection runs (the PII key, the home's own datasets, the lake views) spares
    the dbt process Dagster, pandera and pandas: a second or two of every build. A home's
    dataset registered then still reaches the catalog when a process imports it later."""
    from market_spine.company.home_defs import home_folder

    home = tmp_path / "home"
    home.mkdir()
    (home / "lake").symlink_to(materialized_home / "lake")
    notes = home_folder(home) / "notes"
    notes.mkdir(parents=True)
    (notes / "defs.yaml").write_text(_NOTES)
    done = subprocess.run(
        [sys.executable, "-c", _CONNECT, str(home)], capture_output=True, text=True, check=True
    )
    said = json.loads(done.stdout.splitlines()[-1])
    assert said == {"imported": [], "catalogued": True}
