"""One audit entry and the hash that chains it to the entry before it.

An entry's hash is SHA-256 over the previous entry's hash and the canonical JSON of the entry
(its sequence number, time, actor, action, dataset, parameters and outcome, as a JSON array with
sorted keys inside the parameters), so changing, inserting or removing any entry breaks every
hash after it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: The `prev` of the first entry: the chain starts from a known value, not from nothing.
GENESIS = "0" * 64
#: Who acts when an HTTP request carries no identity.
ANONYMOUS = "anonymous"
#: The request-state key under which a route leaves what the request did beyond its URL (the
#: GraphQL operations of a Dagster UI request); the API's entry keeps it in its params.
AUDIT_DETAIL = "audit_detail"


def now_iso() -> str:
    """The current instant as ISO 8601 UTC with its zone, to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def canonical(params: dict[str, Any] | None) -> str:
    """`params` as canonical JSON text (sorted keys, no spaces); values JSON cannot carry
    (dates, paths) are written as their text."""
    return json.dumps(
        params or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def chain_hash(
    prev: str, seq: int, at: str, actor: str, action: str, dataset: str, params: str, outcome: str
) -> str:
    """The hex SHA-256 chaining one entry (its parameters already canonical JSON) to `prev`."""
    body = json.dumps(
        [seq, at, actor, action, dataset, params, outcome],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """What one audited event says: `at` ISO 8601 with zone; `actor` the API identity or the OS
    user; `action` dotted (`http.get`, `cli.process`, `run.launch`); `dataset` the dataset it
    concerns ('' when none); `params` its parameters; `outcome` (`ok`, `refused`, an HTTP
    status, `failed: ...`)."""

    at: str
    actor: str
    action: str
    dataset: str
    params: dict[str, Any]
    outcome: str
