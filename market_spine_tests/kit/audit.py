"""Reading a home's audit trail back in tests: the entries one actor left, oldest first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from market_spine.audit.recorder import flush_all
from market_spine.audit.store import AuditStore


def audit_entries(home: Path, actor: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(action, dataset, params, outcome) of every audit entry of `actor`, oldest first, once
    the recorder has flushed what it holds."""
    flush_all()
    store = AuditStore(home)
    try:
        rows = [r for chunk in store.rows(actor=actor) for r in chunk]
    finally:
        store.close()
    return [(r[3], r[4], json.loads(r[5]), r[6]) for r in rows]
