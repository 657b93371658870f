"""Table maintenance: compact small files into one file per partition-month, checkpoint the log,
vacuum files removed from the table past a retention window, and delete data files no version
ever referenced (a write that failed or was killed before its commit) once as old.

Many small daily commits slow every read (more files, a longer log); this keeps reads flat.
Compaction is ours rather than delta-rs' `optimize`, which bin-packs files by size and so mixes
months in one file: that widens file statistics (no pruning) and makes any later one-day
replacement rewrite a large file.

delta-rs' default vacuum only deletes files the log once referenced and later removed; files
written but never committed are invisible to it, so they are found by its `full` listing of the
table folder (dry run) and deleted here, only once older than the retention and never younger
than UNCOMMITTED_GRACE_HOURS: a file no version references may be a write still in flight.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import CommitProperties, DeltaTable

from market_spine.errors import LakeError
from market_spine.lake.reader import FileEntry, build_snapshot, read_file
from market_spine.lake.store import Lake
from market_spine.lake.writer import GRAIN_COLUMN, delta_arrow, remove_action, write_files

#: Time travel reaches back this far; older unreferenced files are deleted by vacuum.
DEFAULT_RETENTION_HOURS = 7 * 24
#: A data file no version references is left alone this long whatever the retention: it may be
#: the output of a write that has not committed yet (a large backfill writes for minutes).
UNCOMMITTED_GRACE_HOURS = 1
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

    def as_metadata(self) -> dict[str, Any]:
        """Flat numbers for Dagster metadata."""
        return {
            "files_before": self.files_before,
            "files_after": self.files_after,
            "vacuumed": self.files_removed_by_vacuum,
            "uncommitted_removed": self.uncommitted_removed,
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
    per partition-month, in one commit that changes no data. Returns files before and after."""
    lake.snapshot(dataset)  # the log is checked against the ledger before delta-rs replays it
    delta = DeltaTable(str(lake.path(dataset)))
    snapshot = build_snapshot(delta)
    groups: dict[tuple[Any, ...], list[FileEntry]] = defaultdict(list)
    for f in snapshot.files:
        groups[_group(f)].append(f)
    todo = [files for key, files in groups.items() if len(files) > 1 or key[1] == "spans-months"]
    if not todo:
        return len(snapshot.files), len(snapshot.files)
    root = lake.path(dataset)
    partition_by = list(snapshot.partition_columns)
    written, removes = [], []
    for files in todo:
        rows = pl.concat([read_file(snapshot, f) for f in files], how="diagonal_relaxed")
        table = delta_arrow(rows.to_arrow(compat_level=pl.CompatLevel.oldest()))
        written += write_files(root, table, partition_by, data_change=False)
        removes += [remove_action(f.rel, f.size, f.partition_raw, data_change=False) for f in files]
    lake.ledger.record_files(dataset, written)
    adds = [w.action for w in written]
    delta.create_write_transaction(
        [*adds, *removes],
        mode="append",
        schema=snapshot.schema,
        partition_by=partition_by,
        commit_properties=CommitProperties(custom_metadata={"maintenance": "compact"}),
    )
    lake.ledger.record_log(dataset, root)
    return len(snapshot.files), len(snapshot.files) - len(removes) + len(adds)


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
    lake: Lake, dataset: str, *, retention_hours: int = DEFAULT_RETENTION_HOURS
) -> MaintenanceReport:
    """Compact, checkpoint, drop old log entries, vacuum one table and delete its data files no
    version references once older than the retention (and UNCOMMITTED_GRACE_HOURS).

    A table the light verification finds damaged is left as it is (LakeError listing what is
    wrong and the repairs): compacting would rewrite damaged rows into new, valid-looking files.
    """
    refuse_damaged(lake, dataset)
    before, after = compact(lake, dataset)
    table = lake.table(dataset)
    table.create_checkpoint()
    lake.ledger.record_log(dataset, lake.path(dataset))
    table.cleanup_metadata()
    removed = table.vacuum(
        retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False
    )
    uncommitted = remove_uncommitted(lake, dataset, table, retention_hours)
    return MaintenanceReport(
        dataset, before, after, len(removed), table.version(), len(uncommitted)
    )


def remove_uncommitted(
    lake: Lake, dataset: str, table: DeltaTable, retention_hours: int
) -> list[Path]:
    """Delete the data files of `dataset` that no retained version references and that are
    older than the retention and the in-flight grace; returns the files deleted.

    Run after the ordinary vacuum, so what the full listing still finds on disk was never
    referenced (its dry run also repeats removed files the vacuum already deleted).
    """
    root = lake.path(dataset)
    unreferenced = table.vacuum(
        retention_hours=max(retention_hours, UNCOMMITTED_GRACE_HOURS),
        dry_run=True,
        enforce_retention_duration=False,
        full=True,
    )
    deleted = []
    for name in unreferenced:
        path = Path(name) if Path(name).is_absolute() else root / name
        if path.is_file():
            path.unlink()
            deleted.append(path)
    return deleted
