"""A capture's provenance columns: every raw row says which capture it came from, when, from which
source, for which request, and the SHA-256 of the payload that carried it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import polars as pl
from ulid import ULID


def with_provenance(
    frame: pl.DataFrame, source: str, request: dict[str, Any], payload: bytes, captured_at: datetime
) -> pl.DataFrame:
    """A capture's rows plus where they came from: ULID capture id (sortable by time), capture
    time, source, the request as JSON and the payload's SHA-256."""
    return frame.with_columns(
        capture_id=pl.lit(str(ULID.from_datetime(captured_at))),
        captured_at=pl.lit(captured_at).cast(pl.Datetime("ns", "UTC")),
        source=pl.lit(source),
        request=pl.lit(json.dumps(request, sort_keys=True, default=str)),
        payload_sha256=pl.lit(hashlib.sha256(payload).hexdigest()),
    )
