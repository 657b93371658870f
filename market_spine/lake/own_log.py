"""Committing an append to a local table by writing its Delta log entry ourselves.

A delta-rs commit of a few new files costs ~6 ms in its runtime, and the table object must then
be reloaded (~2 ms) before it can commit again; writing the same commit file takes ~0.2 ms. The
trust tables take several such appends per step, so an append of new files (no removes) to a
local table at the base protocol (reader 1, writer ≤ 2, no table features: what this lake
creates) is written here instead: a `commitInfo` as delta-rs writes it (operation `WRITE`, mode
`Append`, the caller's metadata as top-level keys) and one `add` per file. So is a rewrite that
changes no data (compaction: its adds and removes carry `dataChange: false`): through delta-rs
it first replayed every append the table object had not loaded. Exclusivity is the same as
delta-rs' on a local filesystem: the entry is written to a temporary file and linked to the
version's name, which fails when another writer took that version first. Any other commit (a
replacement, a first commit, a table on object storage, a table with features) goes through
delta-rs.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from deltalake.transaction import AddAction, RemoveAction

from market_spine.lake.files import commit_name
from market_spine.lake.reader import Snapshot
from market_spine.version import package_version


def writable(latest: Snapshot, partition_by: Sequence[str] | None) -> bool:
    """True when an append of new files to the table at `latest` may be written here: the base
    protocol, and the files partitioned as the table is (else delta-rs gives its own error)."""
    return latest.base_protocol and list(latest.partition_columns) == list(
        partition_by or latest.partition_columns
    )


def entry(
    adds: Sequence[AddAction],
    partition_by: Sequence[str],
    metadata: Mapping[str, str],
    removes: Sequence[RemoveAction] = (),
) -> bytes:
    """The log entry of an append of `adds` (and, for a rewrite that changes no data, the
    `removes` of the files they replace): newline-delimited JSON actions, as delta-rs writes
    them (its `commitInfo` fields, then each `add`, then each `remove`)."""
    now = int(time.time() * 1000)
    info = {
        "timestamp": now,
        "operation": "WRITE",
        "operationParameters": {"mode": "Append", "partitionBy": json.dumps(list(partition_by))},
        "clientVersion": f"market-spine-{package_version()}",
        **metadata,
    }
    actions = [{"commitInfo": info}]
    actions += [
        {
            "add": {
                "path": a.path,
                "partitionValues": dict(a.partition_values),
                "size": a.size,
                "modificationTime": a.modification_time,
                "dataChange": a.data_change,
                "stats": a.stats,
            }
        }
        for a in adds
    ]
    actions += [
        {
            "remove": {
                "path": r.path,
                "deletionTimestamp": r.deletion_timestamp,
                "dataChange": r.data_change,
                "extendedFileMetadata": True,
                "partitionValues": dict(r.partition_values or {}),
                "size": r.size,
            }
        }
        for r in removes
    ]
    return "".join(json.dumps(a, separators=(",", ":")) + "\n" for a in actions).encode()


def commit(table_dir: str, version: int, content: bytes) -> bool:
    """Write `content` as commit `version` of the local table at `table_dir`; False (nothing
    written) when that version exists already, i.e. another writer committed it first."""
    log = Path(table_dir) / "_delta_log"
    staged = log / f"_commit_{uuid.uuid4().hex}.json.tmp"
    staged.write_bytes(content)
    try:
        os.link(staged, log / commit_name(version))
    except FileExistsError:
        return False
    finally:
        staged.unlink()
    return True
