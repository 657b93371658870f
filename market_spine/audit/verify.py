"""Checking the audit trail end to end: every entry's hash recomputed from its content and the
hash before it, sequence numbers contiguous from 1, the last entry matching the head (the head
file, or the head table on PostgreSQL), the triggers that refuse updates and deletes in place,
and, given anchors kept outside the store, each anchored hash still at its sequence number. Any
edit, insertion or deletion shows as the first entry where the chain breaks; a rewrite of the
whole chain shows against the anchors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from market_spine.audit.anchor import Anchor, anchor_problems
from market_spine.audit.entry import GENESIS, chain_hash
from market_spine.audit.store import AuditStore, Head


@dataclass
class Verification:
    """What `verify` found: entries checked, the last hash, and the problems (empty: intact)."""

    entries: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def missing_triggers(store: AuditStore) -> list[str]:
    """The append-only triggers the database no longer has; on PostgreSQL also those no longer
    as made (disabled, on other events, or calling a function that no longer refuses)."""
    return store.missing_guards()


def verify(
    home: Path, *, anchors: list[Anchor] | None = None, max_problems: int = 20
) -> Verification:
    """Verify the trail of `home` (which must have one: InvalidInput otherwise), against
    `anchors` too when given."""
    store = AuditStore(home, create=False)
    try:
        # One snapshot: on PostgreSQL other nodes append while this reads, and the head read
        # at the end must be the one that ends the entries read.
        # On SQLite the head file is outside the snapshot: it and the entry it names are read
        # together first, and the entries read after must still hold that entry.
        ends = None if store.postgres else store.ends()
        with store.snapshot():
            return _verify(store, list(anchors or ()), max_problems, ends)
    finally:
        store.close()


def _verify(
    store: AuditStore,
    anchors: list[Anchor],
    max_problems: int,
    ends: tuple[Head | None, Head | None] | None = None,
) -> Verification:
    """What `verify` finds in `store`, read inside its snapshot; `ends` the head and the last
    entry read together before it (None: the head is read in the snapshot)."""
    found = Verification()
    expected_seq, prev = 1, GENESIS
    wanted = {a.seq for a in anchors}
    then: str | None = None
    anchored: dict[int, str] = {}
    gone = missing_triggers(store)
    if gone:
        found.problems.append(
            f"the append-only triggers {', '.join(gone)} are missing"
            + (
                " or altered: someone dropped or disabled them to update, delete or truncate "
                "entries"
                if store.postgres
                else ": someone dropped them to update or delete entries"
            )
            + "; check the trail against its anchors (--anchors)"
        )
    for chunk in store.rows(batch=100_000):
        for seq, at, actor, action, dataset, params, outcome, stored_prev, digest in chunk:
            if seq != expected_seq:
                found.problems.append(
                    f"entry {seq} follows entry {expected_seq - 1}: "
                    f"{'entries removed' if seq > expected_seq else 'out of order'}"
                )
            if stored_prev != prev:
                found.problems.append(
                    f"entry {seq}: its previous hash is not the hash of the entry before it "
                    "(an entry was inserted or removed before it, or that entry was edited)"
                )
            if chain_hash(stored_prev, seq, at, actor, action, dataset, params, outcome) != digest:
                found.problems.append(f"entry {seq}: its content does not match its hash (edited)")
            if len(found.problems) >= max_problems:
                return found
            if seq in wanted:
                anchored[seq] = digest
            if ends is not None and ends[1] is not None and seq == ends[1].seq:
                then = digest
            expected_seq, prev = seq + 1, digest
            found.entries += 1
    found.head = prev
    head = store.head() if ends is None else ends[0]
    last = expected_seq - 1
    if ends is not None:
        # Entries appended since the pair was read are past it; the pair is what must agree.
        pinned = ends[1]
        if pinned is not None and last >= pinned.seq and then != pinned.hash:
            found.problems.append(f"entry {pinned.seq} changed while the trail was checked")
        if pinned is not None and last > pinned.seq:
            last, prev = pinned.seq, pinned.hash
    if head is None:
        if last:
            found.problems.append(
                f"{store.head_place} is missing: the end of the log is unanchored"
            )
    elif (head.seq, head.hash) != (last, prev):
        found.problems.append(
            f"{store.head_name} says entry {head.seq} ends the log but the log ends at entry "
            f"{last}" + (" (entries removed from the end)" if head.seq > last else "")
            if head.seq != last
            else f"the last entry's hash differs from {store.head_name}'s (entry {last} edited)"
        )
    found.problems += anchor_problems(anchored, last, anchors)
    return found
