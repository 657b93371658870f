"""Table maintenance: sort-compact small files, checkpoint the log, vacuum past a retention window.

Many small daily commits slow every read (more files, a longer log); this keeps reads flat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from deltalake import CommitProperties

from market_spine.lake.store import WRITER_PROPERTIES, Lake

#: Time travel reaches back this far; older unreferenced files are deleted by vacuum.
DEFAULT_RETENTION_HOURS = 7 * 24
TARGET_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class MaintenanceReport:
    """What one maintenance pass did to one table."""

    dataset: str
    files_before: int
    files_after: int
    files_removed_by_vacuum: int
    version: int

    def as_metadata(self) -> dict[str, Any]:
        """Flat numbers for Dagster metadata."""
        return {
            f"{self.dataset}/files_before": self.files_before,
            f"{self.dataset}/files_after": self.files_after,
            f"{self.dataset}/vacuumed": self.files_removed_by_vacuum,
        }


def maintain(
    lake: Lake,
    dataset: str,
    *,
    sort_by: str | None = "ts",
    retention_hours: int = DEFAULT_RETENTION_HOURS,
    min_commit_interval: timedelta | None = None,
) -> MaintenanceReport:
    """Compact (z-ordered on `sort_by` so row-group stats stay tight), checkpoint and vacuum."""
    table = lake.table(dataset)
    before = len(table.file_uris())
    props = CommitProperties(custom_metadata={"maintenance": "compact"})
    columns = table.schema().to_arrow().names
    if sort_by and sort_by in columns:
        table.optimize.z_order(
            [sort_by],
            target_size=TARGET_FILE_BYTES,
            writer_properties=WRITER_PROPERTIES,
            min_commit_interval=min_commit_interval,
            commit_properties=props,
        )
    else:
        table.optimize.compact(
            target_size=TARGET_FILE_BYTES,
            writer_properties=WRITER_PROPERTIES,
            min_commit_interval=min_commit_interval,
            commit_properties=props,
        )
    table.create_checkpoint()
    table.cleanup_metadata()
    removed = table.vacuum(
        retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False
    )
    table.update_incremental()
    return MaintenanceReport(dataset, before, len(table.file_uris()), len(removed), table.version())
