"""Bytes kept per dataset: the current snapshot's files, the older versions' files still kept
(for time travel and certification pins) in the lake's folder or bucket, and the warehouse's
DuckDB file."""

from __future__ import annotations

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


def dataset_bytes(lake: Lake, spec: DatasetSpec) -> StoredBytes | None:
    """The bytes of one Delta dataset; None when it is not in the lake (or cannot be read)."""
    if spec.kind != "delta" or not lake.exists(spec.name):
        return None
    try:
        current = sum(f.size for f in lake.snapshot(spec.name).files)
    except (NotMaterialized, LakeDamaged):
        return None
    # Every file of the table, through the lake's storage: a folder's files or a bucket's
    # objects under the table's prefix.
    total = sum(lake.storage.sizes(lake.location(spec.name)).values())
    return StoredBytes(spec.name, current, max(0, total - current))


def stored_bytes(lake: Lake, home: Path, specs: list[DatasetSpec]) -> list[StoredBytes]:
    """Bytes of every dataset of `specs` in the lake, and of the home's warehouse file."""
    found = [b for spec in specs if (b := dataset_bytes(lake, spec)) is not None]
    warehouse = warehouse_path(home)
    if warehouse.is_file():
        found.append(StoredBytes(WAREHOUSE, warehouse.stat().st_size, 0))
    return found
