"""Exporting the audit trail for compliance: the entries since an instant, filtered by actor,
dataset and action, as CSV, JSON lines or Parquet (one row per entry with its sequence number
and hash, so an export can be checked against `verify`'s head)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring as _text_json
from pathlib import Path
from typing import IO, TYPE_CHECKING

from market_spine.audit.store import COLUMNS, AuditStore
from market_spine.errors import InvalidInput

if TYPE_CHECKING:
    import polars as pl

FORMATS = ("csv", "jsonl", "parquet")
_SPAN = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def since_instant(text: str, now: datetime | None = None) -> str:
    """The ISO 8601 UTC instant `text` names: a span back from now (`7d`, `24h`, `30m`, `2w`) or
    an ISO date or date-time (a time without a zone is UTC). InvalidInput otherwise."""
    now = now or datetime.now(UTC)
    raw = text.strip()
    span = _SPAN.match(raw)
    if span:
        back = timedelta(**{_UNIT[span[2]]: int(span[1])})
        return (now - back).isoformat(timespec="microseconds")
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            f"since={text!r} is neither a span (7d, 24h, 30m, 2w) nor an ISO 8601 date or "
            "date-time: pass e.g. --since 7d or --since 2026-11-23"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditFilter:
    """Which entries an export or `/v1/audit` returns (None: any)."""

    since: str | None = None
    actor: str | None = None
    dataset: str | None = None
    action: str | None = None


def _jsonl_line(row: tuple) -> str:
    seq, at, actor, action, dataset, params, outcome, prev, digest = row
    # The parameters are stored as canonical JSON already: spliced in as an object, not text;
    # the hashes are hex.
    return (
        f'{{"seq":{seq},"at":{_text_json(at)},"actor":{_text_json(actor)},'
        f'"action":{_text_json(action)},"dataset":{_text_json(dataset)},"params":{params},'
        f'"outcome":{_text_json(outcome)},"prev":"{prev}","hash":"{digest}"}}\n'
    )


def entries_as_dicts(
    store: AuditStore, where: AuditFilter, limit: int, after: int | None = None
) -> list[dict]:
    """Up to `limit` entries (after sequence number `after`) as dicts, parameters as objects,
    for the API."""
    found = []
    for chunk in store.rows(**vars(where), after=after, limit=limit):
        for row in chunk:
            item = dict(zip(COLUMNS, row, strict=True))
            item["params"] = json.loads(item["params"])
            found.append(item)
    return found


def export(home: Path, where: AuditFilter, fmt: str, out: IO[str] | Path) -> int:
    """Write the entries `where` selects in `fmt` to `out` (a text stream, or a path: Parquet
    needs a path); how many were written."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    store = AuditStore(home, create=False)
    try:
        if fmt == "parquet":
            if not isinstance(out, Path):
                raise InvalidInput("a Parquet export needs a file: pass --output FILE")
            return _parquet(store, where, out)
        if isinstance(out, Path):
            with out.open("w", encoding="utf-8", newline="") as stream:
                return _text(store, where, fmt, stream)
        return _text(store, where, fmt, out)
    finally:
        store.close()


def _frame(chunk: list[tuple]) -> pl.DataFrame:
    import polars as pl

    schema = {name: pl.Int64 if name == "seq" else pl.Utf8 for name in COLUMNS}
    return pl.DataFrame(chunk, schema=schema, orient="row")


def _text(store: AuditStore, where: AuditFilter, fmt: str, out: IO[str]) -> int:
    count = 0
    if fmt == "csv":
        out.write(",".join(COLUMNS) + "\n")
    for chunk in store.rows(**vars(where), batch=100_000):
        if fmt == "csv":
            out.write(_frame(chunk).write_csv(include_header=False))
        else:
            out.write("".join(map(_jsonl_line, chunk)))
        count += len(chunk)
    return count


def _parquet(store: AuditStore, where: AuditFilter, path: Path) -> int:
    import pyarrow.parquet as pq

    schema = _frame([]).to_arrow().schema
    count = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for chunk in store.rows(**vars(where), batch=200_000):
            writer.write_table(_frame(chunk).to_arrow())
            count += len(chunk)
        if count == 0:
            writer.write_table(schema.empty_table())
    return count
