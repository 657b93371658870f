"""Where the warehouse's files are: the dbt project in the repository, and the DuckDB file, its
lock and dbt's artifacts in a home. Light on purpose (no Dagster, no dbt import): the catalog,
the client and the dbt plugin all need these paths.

Every path is absolute, so dbt and its readers behave the same from any working directory.
"""

from __future__ import annotations

from pathlib import Path

#: The dbt project (dbt_project.yml, profiles.yml, models, seeds, macros, tests).
DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "market_spine_dbt"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
#: The manifest `dbt parse` writes for the definitions (`market_spine.warehouse.project`).
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
#: The generated dbt sources file (`market_spine.warehouse.sources`).
SOURCES_FILE = DBT_PROJECT_DIR / "models" / "staging" / "_lake__sources.yml"


def warehouse_dir(home: Path) -> Path:
    """The warehouse folder of a home: the DuckDB file, its lock and dbt's artifacts."""
    return Path(home).resolve() / "warehouse"


def warehouse_path(home: Path) -> Path:
    """The DuckDB file dbt builds: `<home>/warehouse/spine.duckdb` (as in profiles.yml)."""
    return warehouse_dir(home) / "spine.duckdb"


def home_seeds_path(home: Path) -> Path:
    """The reference seeds of a home that configures its own futures roots
    (`market_spine.warehouse.seeds`); other homes load the project's."""
    return warehouse_dir(home) / "seeds"


def lock_path(home: Path) -> Path:
    """The readers-writer lock file beside the DuckDB file (`market_spine.warehouse.lock`)."""
    return warehouse_dir(home) / "spine.lock"


def dbt_target_path(home: Path) -> Path:
    """dbt's artifacts and logs for this home. Kept per home, not per invocation: dbt's partial
    parse is only valid for the profile it was made with (the profile names the home), so each
    home keeps its own and only its first build parses from scratch."""
    return warehouse_dir(home) / "dbt_target"
