"""The history of a home's settings: every change `market-spine config` makes, appended as one
JSON line to `<home>/settings_history.jsonl` with who made it (the OS user), when (UTC), the key,
and its old and new value (None: not set in the file). Secrets are masked before they are
written, so the history never holds one. Each change is also an entry of the audit trail."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from market_spine.config.file import FileValue
from market_spine.config.identity import os_user
from market_spine.config.secrets import mask_setting
from market_spine.errors import InvalidInput

HISTORY_FILE = "settings_history.jsonl"


@dataclass(frozen=True)
class Change:
    """One recorded change: `action` is `set` or `reset`; `at` is ISO 8601 UTC."""

    at: str
    user: str
    action: str
    key: str
    old: FileValue | None
    new: FileValue | None


def history_path(home: Path) -> Path:
    """Where a home keeps its settings history."""
    return home / HISTORY_FILE


def change(action: str, key: str, old: FileValue | None, new: FileValue | None) -> Change:
    """A change made now by the current OS user, its values masked."""
    return Change(
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        user=os_user(),
        action=action,
        key=key,
        old=mask_setting(key, old),  # type: ignore[arg-type]
        new=mask_setting(key, new),  # type: ignore[arg-type]
    )


def record(home: Path, changes: list[Change]) -> None:
    """Append `changes` to the history, one line each, readable by the home's user only."""
    if not changes:
        return
    path = history_path(home)
    lines = "".join(json.dumps(asdict(c), sort_keys=True) + "\n" for c in changes)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(lines)
    from market_spine.audit.recorder import record as audit

    for c in changes:
        audit(home, f"config.{c.action}", params={"key": c.key, "old": c.old, "new": c.new})


def read_history(home: Path) -> list[Change]:
    """Every recorded change, oldest first ([] without a history). A line that is not a change
    raises InvalidInput naming the line."""
    path = history_path(home)
    if not path.is_file():
        return []
    changes = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            changes.append(Change(**json.loads(line)))
        except (ValueError, TypeError):
            raise InvalidInput(
                f"{path} line {number} is not a recorded change: {line[:80]!r}; the history is "
                "append-only, so restore that line from a backup or delete it"
            ) from None
    return changes
