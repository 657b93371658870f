"""Bytes kept per dataset: the current snapshot's files, the older versions' files still on
disk (kept for time travel and certification pins), and the warehouse's DuckDB file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from market_spine.catalog.vocabulary import DatasetSpec
from market_spine.errors import LakeDamaged, NotMaterialized
from market_spine.lake.store import Lake
from market_spine.warehouse.paths import warehouse_path

#: The warehouse's DuckDB file, as a dataset of the cost report.
WAREHOUSE = "warehouse/spine_duckdb"


@dataclass(frozen=True)
class StoredBytes:
    """A dataset's bytes: `current` (files of its current version), `kept` (every other file
    of the table: older versions and the log)."""

    dataset: str
    current: int
    kept: int

    @property
    def total(self) -> int:
        return self.current + self.kept


def _tree_bytes(folder: Path) -> int:
    total = 0
    for base, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(base) / name).stat().st_size
            except OSError:
                continue
    return total


def dataset_bytes(lake: Lake, spec: DatasetSpec) -> StoredBytes | None:
    """The bytes of one Delta dataset; None when it is not in the lake (or cannot be read)."""
    if spec.kind != "delta" or not lake.exists(spec.name):
        return None
    try:
        current = sum(f.size for f in lake.snapshot(spec.name).files)
    except (NotMaterialized, LakeDamaged):
        return None
    total = _tree_bytes(lake.path(spec.name))
    return StoredBytes(spec.name, current, max(0, total - current))


def stored_bytes(lake: Lake, home: Path, specs: list[DatasetSpec]) -> list[StoredBytes]:
    """Bytes of every dataset of `specs` in the lake, and of the home's warehouse file."""
    found = [b for spec in specs if (b := dataset_bytes(lake, spec)) is not None]
    warehouse = warehouse_path(home)
    if warehouse.is_file():
        found.append(StoredBytes(WAREHOUSE, warehouse.stat().st_size, 0))
    return found
