"""Concurrent writers of one table: each commit is checked against what other commits changed
since the snapshot it was planned from, so two writers of one partition never both land.

A replacement plans its removes from a snapshot. If the partition was empty there, the plan is a
blind append, and delta-rs' conflict checker lets two of them through: our transactions reach it
with no read predicate (the Python binding passes none), so it only catches two commits removing
the same file. Two replacements of a new trade date then both landed and every row appeared
twice. So commits go through delta-rs with no retries of its own (`max_commit_retries=0`): a
commit that finds the table moved fails, and the writer compares the snapshot it planned from
with the newest one. A file added or removed since inside the replaced partition (by partition
values, then file statistics, as reads prune) means the plan is stale: the writer re-plans on
the new snapshot, removing the winner's files, so the partition ends with exactly one writer's
rows, as if the two had run one after the other. Changes elsewhere (another symbol, another day)
do not touch the plan, and the same actions are committed on top. An append reads nothing, so it
never conflicts and is always committed on top: raw captures of one partition from two writers
both land, each once, each under its own capture id.

Why not a per-partition lease (a lock file held from planning to commit): it works only where
every writer shares one POSIX file system, and the production lake is on object storage with
writers in separate pods, where the Delta log's put-if-absent commit is the one arbiter all
writers share. A lease would also have to name "the partition" for predicates that differ in
shape (a block of days, one day, a range of minutes); the conflict check compares the actual
predicate with the actual files. It costs nothing until two commits race: one version check
per commit (measured in bench/concurrent_writes.py beside the unchecked commit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from deltalake.transaction import AddAction

from market_spine.errors import LakeUnreachable
from market_spine.lake.filters import RowFilter
from market_spine.lake.reader import FileEntry
from market_spine.lake.storage import Storage

#: Commits one write may find ahead of it before it gives up (each race lost costs one retry).
COMMIT_ATTEMPTS = 25


class PartitionChanged(Exception):
    """Another commit added or removed files in the partition a replacement was planned from;
    the replacement must be planned again on the newer snapshot."""

    def __init__(self, version: int, files: Sequence[FileEntry]) -> None:
        super().__init__(f"version {version} changed {len(files)} files of the partition")
        self.version = version
        self.files = files


def changed_in(
    region: RowFilter | None, planned: Iterable[FileEntry], latest: Iterable[FileEntry]
) -> list[FileEntry]:
    """Files added or removed between two snapshots that may hold rows of `region` (the rows a
    replacement read, in comparable form; None for an append, which read nothing)."""
    if region is None:
        return []
    before = {f.rel: f for f in planned}
    after = {f.rel: f for f in latest}
    moved = [f for rel, f in after.items() if rel not in before]
    moved += [f for rel, f in before.items() if rel not in after]
    return [f for f in moved if region.may_match(f)]


def discard(storage: Storage, root: str, actions: Iterable[AddAction]) -> None:
    """Delete data files this process wrote but never committed, so a lost race leaves none.
    A store that stopped answering keeps them: unreferenced files harm no reader, and the
    caller's own error says what went wrong."""
    try:
        for action in actions:
            storage.delete(storage.join(root, action.path))
    except LakeUnreachable:
        return
