"""Pruning a table's history past its retention while keeping pinned versions whole.

Delta has no protected versions: delta-rs' vacuum deletes every file of any version older than
the retention and cannot be told to keep chosen ones. So vacuum only names the candidates
(dry runs) and this module deletes them itself, leaving every file a pinned version's add
actions reference; the log is trimmed the same way, never past the checkpoint a pinned version
is replayed from. What was deleted comes back as a `Pruning` for the caller to record.

Candidates are files removed from the table longer ago than the retention (vacuum's lite dry
run) and data files no version ever referenced (a write that died before its commit; vacuum's
full dry run), the latter never younger than UNCOMMITTED_GRACE_HOURS: a file no version
references may belong to a write still in flight.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

from deltalake import DeltaTable

from market_spine.lake.files import LogListing, commit_name
from market_spine.lake.reader import add_actions, open_table
from market_spine.lake.storage import Storage
from market_spine.lake.store import Lake

#: A data file no version references is left alone this long whatever the retention: it may be
#: the output of a write that has not committed yet (a large backfill writes for minutes).
UNCOMMITTED_GRACE_HOURS = 1


@dataclass(frozen=True)
class Pruning:
    """What one pruning of one table deleted: data files (relative paths) and their bytes, how
    many of them no version ever referenced, the versions that lost a file (no longer readable),
    the log files trimmed, the pinned versions and the files kept only because they pin them."""

    dataset: str
    files: tuple[str, ...] = ()
    bytes: int = 0
    uncommitted: int = 0
    versions: tuple[int, ...] = ()
    log_files: int = 0
    pinned: tuple[int, ...] = ()
    kept_for_pins: int = 0
    #: Pinned versions whose log was already gone before pinning began: nothing left to keep.
    pins_lost: tuple[int, ...] = field(default=())

    @property
    def empty(self) -> bool:
        """True when nothing was deleted."""
        return not self.files and not self.log_files


def pinned_files(lake: Lake, dataset: str, versions: Iterable[int]) -> set[str]:
    """The data files (relative paths) the add actions of `versions` reference."""
    found: set[str] = set()
    for version in versions:
        found |= {f.rel for f in lake.snapshot(dataset, as_of=version).files}
    return found


def prune(
    lake: Lake,
    dataset: str,
    table: DeltaTable,
    retention_hours: int,
    pinned: Collection[int] = (),
) -> Pruning:
    """Delete `dataset`'s files removed longer ago than `retention_hours` and its never
    committed files older than that (and the grace), except those a `pinned` version
    references; then trim the log below what pinned and retained versions need."""
    store = lake.storage
    root = lake.location(dataset)
    log_dir = store.join(root, "_delta_log")
    current = table.version()
    listing = LogListing.of(store, log_dir)
    pins = sorted({v for v in pinned if 0 <= v <= current})
    kept_pins = [v for v in pins if listing.replays(v)]
    lost = tuple(v for v in pins if v not in kept_pins)
    keep = pinned_files(lake, dataset, kept_pins)
    removed = set(
        table.vacuum(
            retention_hours=retention_hours, dry_run=True, enforce_retention_duration=False
        )
    )
    unreferenced = set(
        table.vacuum(
            retention_hours=max(retention_hours, UNCOMMITTED_GRACE_HOURS),
            dry_run=True,
            enforce_retention_duration=False,
            full=True,
        )
    )
    added, dropped = _file_versions(store, root, listing)
    files: list[str] = []
    size = uncommitted = kept = 0
    for name in sorted(removed | unreferenced):
        rel = unquote(name)
        if rel in keep:
            kept += 1
            continue
        path = store.join(root, rel)
        try:
            size += store.stat(path).size
        except FileNotFoundError:
            continue
        store.delete(path)
        files.append(rel)
        uncommitted += name not in removed and rel not in added
    versions = sorted(
        {
            v
            for rel in files
            if rel in added
            for v in range(added[rel], dropped.get(rel, current + 1))
            if v not in kept_pins
        }
    )
    logs = _trim_log(store, log_dir, listing, kept_pins, current, retention_hours)
    return Pruning(
        dataset, tuple(files), size, uncommitted, tuple(versions), logs, tuple(pins), kept, lost
    )


def _file_versions(
    store: Storage, root: str, listing: LogListing
) -> tuple[dict[str, int], dict[str, int]]:
    """Each data file's first version and the version that removed it, from the commit files
    the log still holds; a file already in the table at the oldest of them (its earlier
    commits trimmed) counts from that one, read from the checkpoint there."""
    added: dict[str, int] = {}
    dropped: dict[str, int] = {}
    log_dir = store.join(root, "_delta_log")
    oldest = listing.versions[0] if listing.versions else 0
    if oldest > 0 and oldest in listing.checkpoints:
        start = open_table(store, root, oldest)
        paths = add_actions(start).column("path").to_pylist()
        added.update((unquote(p), oldest) for p in paths)
    for version in listing.versions:
        text = store.read(store.join(log_dir, commit_name(version))).decode()
        for line in text.splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "add" in action:
                added.setdefault(unquote(action["add"]["path"]), version)
            elif "remove" in action:
                dropped[unquote(action["remove"]["path"])] = version
    return added, dropped


def _trim_log(
    store: Storage,
    log_dir: str,
    listing: LogListing,
    pinned: Collection[int],
    current: int,
    retention_hours: int,
) -> int:
    """Delete the log files below the checkpoint the oldest needed version (pinned, or
    committed within the retention) is replayed from, once older than the retention; returns
    how many were deleted. Replaces delta-rs' metadata cleanup, which trims to its newest
    checkpoint whatever a pinned version needs."""
    cutoff = time.time() - retention_hours * 3600
    recent = [
        v
        for v in listing.versions
        if store.stat(store.join(log_dir, commit_name(v))).mtime >= cutoff or v == current
    ]
    needed = min([*pinned, *recent, current])
    floor = listing.base(needed)
    if floor <= 0:
        return 0
    deleted = 0
    for name in sorted(listing.names):
        if not name[:20].isdigit() or int(name[:20]) >= floor:
            continue
        path = store.join(log_dir, name)
        if store.stat(path).mtime < cutoff:
            store.delete(path)
            deleted += 1
    return deleted
