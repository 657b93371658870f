"""Checking the audit trail end to end: every entry's hash recomputed from its content and the
hash before it, sequence numbers contiguous from 1, and the last entry matching the head file.
Any edit, insertion or deletion shows as the first entry where the chain breaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from market_spine.audit.entry import GENESIS, chain_hash
from market_spine.audit.store import AuditStore, head_path, read_head


@dataclass
class Verification:
    """What `verify` found: entries checked, the last hash, and the problems (empty: intact)."""

    entries: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(home: Path, *, max_problems: int = 20) -> Verification:
    """Verify the trail of `home` (which must have one: InvalidInput otherwise)."""
    store = AuditStore(home, create=False)
    found = Verification()
    expected_seq, prev = 1, GENESIS
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
    return found
