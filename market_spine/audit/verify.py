"""Checking the audit trail end to end: every entry's hash recomputed from its content and the
hash before it, sequence numbers contiguous from 1, the last entry matching the head file, the
triggers that refuse updates and deletes in place, and, given anchors kept outside the home,
each anchored hash still at its sequence number. Any edit, insertion or deletion shows as the
first entry where the chain breaks; a rewrite of the whole chain shows against the anchors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from market_spine.audit.anchor import Anchor, anchor_problems
from market_spine.audit.entry import GENESIS, chain_hash
from market_spine.audit.store import GUARD_TRIGGERS, AuditStore, head_path, read_head


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
    """The append-only triggers the database no longer has."""
    present = {
        name
        for (name,) in store.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'"
        )
    }
    return [name for name in GUARD_TRIGGERS if name not in present]


def verify(
    home: Path, *, anchors: list[Anchor] | None = None, max_problems: int = 20
) -> Verification:
    """Verify the trail of `home` (which must have one: InvalidInput otherwise), against
    `anchors` too when given."""
    store = AuditStore(home, create=False)
    found = Verification()
    expected_seq, prev = 1, GENESIS
    wanted = {a.seq for a in anchors or ()}
    anchored: dict[int, str] = {}
    gone = missing_triggers(store)
    if gone:
        found.problems.append(
            f"the append-only triggers {', '.join(gone)} are missing: someone dropped them to "
            "update or delete entries; check the trail against its anchors (--anchors)"
        )
    try:
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
                if (
                    chain_hash(stored_prev, seq, at, actor, action, dataset, params, outcome)
                    != digest
                ):
                    found.problems.append(
                        f"entry {seq}: its content does not match its hash (edited)"
                    )
                if len(found.problems) >= max_problems:
                    return found
                if seq in wanted:
                    anchored[seq] = digest
                expected_seq, prev = seq + 1, digest
                found.entries += 1
    finally:
        store.close()
    found.head = prev
    head = read_head(home)
    last = expected_seq - 1
    if head is None:
        if last:
            found.problems.append(f"{head_path(home)} is missing: the end of the log is unanchored")
    elif (head.seq, head.hash) != (last, prev):
        found.problems.append(
            f"the head file says entry {head.seq} ends the log but the log ends at entry {last}"
            + (" (entries removed from the end)" if head.seq > last else "")
            if head.seq != last
            else f"the last entry's hash differs from the head file's (entry {last} edited)"
        )
    found.problems += anchor_problems(anchored, last, list(anchors or ()))
    return found
