"""Table maintenance: compact small files into one file per partition-month, checkpoint the log,
and prune history past a retention window while keeping every pinned version whole
(lake/pruning.py).

Many small daily commits slow every read (more files, a longer log); this keeps reads flat.
Compaction is ours rather than delta-rs' `optimize`, which bin-packs files by size and so mixes
months in one file: that widens file statistics (no pruning) and makes any later one-day
replacement rewrite a large file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from market_spine.errors import LakeError
from market_spine.lake.commits import COMPACTION
from market_spine.lake.conflicts import PartitionChanged, discard
from market_spine.lake.pruning import UNCOMMITTED_GRACE_HOURS, Pruning, prune
from market_spine.lake.reader import FileEntry, read_files
from market_spine.lake.store import Lake
from market_spine.lake.writer import GRAIN_COLUMN, delta_arrow, remove_action, write_files

#: Time travel reaches back this far by default (the home's `retention_days`, 400 days);
#: files of older, unpinned versions are pruned.
DEFAULT_RETENTION_HOURS = 400 * 24
__all__ = ["DEFAULT_RETENTION_HOURS", "UNCOMMITTED_GRACE_HOURS", "MaintenanceReport", "maintain"]
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class MaintenanceReport:
    """What one maintenance pass did to one table."""

    dataset: str
    files_before: int
    files_after: int
    files_removed_by_vacuum: int
    version: int
    uncommitted_removed: int = 0
    pruning: Pruning | None = None

    def as_metadata(self) -> dict[str, Any]:
        """Flat numbers for Dagster metadata."""
        pruning = self.pruning or Pruning(self.dataset)
        return {
            "files_before": self.files_before,
            "files_after": self.files_after,
            "vacuumed": self.files_removed_by_vacuum,
            "uncommitted_removed": self.uncommitted_removed,
            "bytes_pruned": pruning.bytes,
            "versions_pruned": len(pruning.versions),
            "pinned_versions": len(pruning.pinned),
            "kept_for_pins": pruning.kept_for_pins,
            "version": self.version,
        }


def _month(days: int | None) -> tuple[int, int] | None:
    if days is None:
        return None
    d = _EPOCH + timedelta(days=days)
    return d.year, d.month


def _group(f: FileEntry) -> tuple[Any, ...]:
    """Files that belong in one compacted file: same partition and same month (if known)."""
    lo, hi = _month(f.mins.get(GRAIN_COLUMN)), _month(f.maxs.get(GRAIN_COLUMN))
    month = lo if lo == hi else "spans-months"
    return (tuple(sorted(f.partition_raw.items())), month)


def compact(lake: Lake, dataset: str) -> tuple[int, int]:
    """Rewrite each partition-month held in several files (or files spanning months) as one file
    per partition-month, in one commit that changes no data, on top of any appends that land
    meanwhile. Returns files before and after. Raises PartitionChanged, leaving the table as
    it was, when another writer compacted the same files first."""
    snapshot = lake.snapshot(dataset)
    groups: dict[tuple[Any, ...], list[FileEntry]] = defaultdict(list)
    for f in snapshot.files:
        groups[_group(f)].append(f)
    todo = [files for key, files in groups.items() if len(files) > 1 or key[1] == "spans-months"]
    if not todo:
        return len(snapshot.files), len(snapshot.files)
    root = lake.location(dataset)
    partition_by = list(snapshot.partition_columns)
    written, removes = [], []
    try:
        for files in todo:
            rows = read_files(snapshot, files)
            table = delta_arrow(rows.to_arrow(compat_level=pl.CompatLevel.oldest()))
            written += write_files(lake.storage, root, table, partition_by, data_change=False)
            removes += [
                remove_action(f.rel, f.size, f.partition_raw, data_change=False) for f in files
            ]
    except BaseException:
        discard(lake.storage, root, [w.action for w in written])
        raise
    lake.rewrite(dataset, snapshot, written, removes, {"maintenance": COMPACTION})
    return len(snapshot.files), len(snapshot.files) - len(removes) + len(written)


def refuse_damaged(lake: Lake, dataset: str) -> None:
    """Raise LakeError naming every damaged part of the table. Deep verification (every file's
    SHA-256 and page checksums): compaction rewrites only some files, so a damaged file it
    leaves alone would otherwise pass as maintained."""
    from market_spine.lake.verify import verify_table

    damage = [f for f in verify_table(lake, dataset, deep=True).findings if f.damage]
    if damage:
        found = "; ".join(f"{f.path or dataset}: {f.problem} (repair: {f.repair})" for f in damage)
        raise LakeError(f"{dataset} is damaged, so it is not maintained: {found}")


def maintain(
    lake: Lake,
    dataset: str,
    *,
    retention_hours: int = DEFAULT_RETENTION_HOURS,
    pinned: Collection[int] = (),
) -> MaintenanceReport:
    """Compact, checkpoint and prune one table: files of versions older than the retention and
    never committed files (past the retention and UNCOMMITTED_GRACE_HOURS) are deleted, except
    those a `pinned` version references; the log is trimmed no further than they need.

    A table the light verification finds damaged is left as it is (LakeError listing what is
    wrong and the repairs): compacting would rewrite damaged rows into new, valid-looking files.
    """
    refuse_damaged(lake, dataset)
    try:
        before, after = compact(lake, dataset)
    except PartitionChanged:
        # Another writer compacted the same files first: their commit did this one's work.
        before = after = len(lake.snapshot(dataset).files)
    table = lake.table(dataset)
    table.create_checkpoint()
    lake.ledger.record_log(dataset, lake.location(dataset))
    pruning = prune(lake, dataset, table, retention_hours, pinned)
    return MaintenanceReport(
        dataset,
        before,
        after,
        len(pruning.files) - pruning.uncommitted,
        table.version(),
        pruning.uncommitted,
        pruning,
    )
