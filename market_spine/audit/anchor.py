"""Anchoring the audit trail outside its store: its head (last sequence number and hash, and the
time) appended to an external file or POSTed to a URL, so someone who rewrites the database,
the chain and the head (file or table) together is still caught: the trail no longer holds the
anchored hash at the anchored sequence number.

An anchor file holds one JSON object a line: `{"seq": 41, "hash": "<sha256>", "at": "<ISO 8601
UTC>", "home": "<home id>"}`. A URL receives that object as the JSON body of a POST."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from market_spine.audit.store import AuditStore
from market_spine.errors import InvalidInput

#: How long a POST to an anchor URL may take.
POST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Anchor:
    """One anchored head: the entry `seq` had hash `hash` at `at`, in the home `home`."""

    seq: int
    hash: str
    at: str
    home: str = ""


def current_anchor(home: Path) -> Anchor:
    """The trail's head now, as the database holds it (InvalidInput without a trail)."""
    from market_spine.security.bootstrap import home_id

    store = AuditStore(home, create=False)
    try:
        last = store.last()
    finally:
        store.close()
    if last is None:
        raise InvalidInput(f"the audit trail of {home} is empty: there is nothing to anchor yet")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return Anchor(last.seq, last.hash, now, home_id(home))


def is_url(target: str) -> bool:
    """Whether an anchor target is an http(s) URL (else a file path)."""
    return target.startswith(("http://", "https://"))


def append_anchor(target: str, anchor: Anchor) -> None:
    """Append `anchor` to the file `target` (created 0600; never truncated) or POST it to the
    URL `target`. InvalidInput naming the target when it cannot be written."""
    line = json.dumps(asdict(anchor), sort_keys=True)
    if is_url(target):
        import httpx

        try:
            answer = httpx.post(
                target,
                content=line,
                timeout=POST_TIMEOUT_S,
                headers={"content-type": "application/json"},
            )
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise InvalidInput(
                f"the audit head could not be anchored at {target}: {exc}; check the URL "
                "(MARKET_SPINE_AUDIT_ANCHOR) and that it accepts a JSON POST"
            ) from None
        return
    path = Path(target).expanduser()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(line + "\n")
    except OSError as exc:
        raise InvalidInput(
            f"the audit head could not be appended to {path}: {exc.strerror or exc}; point "
            "MARKET_SPINE_AUDIT_ANCHOR at a writable file outside the home"
        ) from None


def read_anchors(path: Path) -> list[Anchor]:
    """The anchors an anchor file holds, in file order. InvalidInput naming the line that is
    not an anchor."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"the anchor file {path} cannot be read: {exc.strerror or exc}"
        ) from None
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            found.append(
                Anchor(
                    int(data["seq"]), str(data["hash"]), str(data["at"]), str(data.get("home", ""))
                )
            )
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(
                f"{path} line {number} is not an audit anchor (a JSON object with seq, hash, "
                f"at): {line[:80]!r}"
            ) from None
    return found


def anchor_problems(hashes: dict[int, str], last_seq: int, anchors: list[Anchor]) -> list[str]:
    """What the anchors say about a trail whose entries have `hashes` by sequence number and
    end at `last_seq`: each anchor past the end (entries removed) or whose entry now has
    another hash (the trail rewritten from there on)."""
    problems = []
    for anchor in anchors:
        if anchor.seq > last_seq:
            problems.append(
                f"the anchor of {anchor.at} names entry {anchor.seq} but the log ends at entry "
                f"{last_seq} (entries removed)"
            )
        elif hashes.get(anchor.seq) != anchor.hash:
            problems.append(
                f"entry {anchor.seq} does not have the hash anchored at {anchor.at} (the trail "
                "was rewritten at or before it)"
            )
    return problems
