"""Writes of the streaming path: 5-second micro-batches as raw captures, closed minutes into the
normalized table (replacing exactly those minutes, per symbol and session), and backfilled
history as an ordinary raw 1-minute capture."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
from ulid import ULID

from market_spine.catalog.vocabulary import conform
from market_spine.certification.withdrawal import changed_unjudged, dependents
from market_spine.futures import keys
from market_spine.futures.catalog import CERTIFIED_FROM, NORMALIZED_BARS_SPEC
from market_spine.futures.partitions import partition_key
from market_spine.futures.raw_bars import capture_frame
from market_spine.futures.schemas import NORMALIZED_BARS
from market_spine.lake.commits import CommitInfo
from market_spine.lake.store import Lake
from market_spine.markets.calendars import data_final_at
from market_spine.providers.base import BarCapture
from market_spine.streaming.schemas import RAW_BARS_5S, RAW_BARS_5S_TABLE

SOURCE = "ib-realtime"
MINUTE = timedelta(minutes=1)


def new_capture_id(at: datetime | None = None) -> str:
    """A ULID for the next micro-batch, known before it lands so messages can cite it."""
    return str(ULID.from_datetime(at or datetime.now(UTC)))


def land_micro_batch(
    lake: Lake, bars: list[dict[str, Any]], capture_id: str, request: dict[str, Any]
) -> CommitInfo:
    """Append one micro-batch of 5-second bars (with trade_date set) as a raw capture."""
    payload = json.dumps(bars, default=str, sort_keys=True).encode()
    captured_at = datetime.now(UTC)
    frame = pl.DataFrame(bars).rename({"wap": "vwap", "count": "trades"})
    frame = frame.with_columns(
        capture_id=pl.lit(capture_id),
        captured_at=pl.lit(captured_at).cast(pl.Datetime("ns", "UTC")),
        source=pl.lit(SOURCE),
        request=pl.lit(json.dumps(request, sort_keys=True)),
        payload_sha256=pl.lit(hashlib.sha256(payload).hexdigest()),
    )
    return lake.append(
        RAW_BARS_5S_TABLE,
        conform(frame, RAW_BARS_5S),
        partition_by=["symbol"],
        metadata={"source": SOURCE, "captures": [capture_id], **request},
    )


def land_minutes(
    lake: Lake,
    minutes: list[dict[str, Any]],
    metadata: dict[str, Any],
    *,
    covers: tuple[datetime, datetime] | None = None,
    now: datetime | None = None,
) -> list[CommitInfo]:
    """Replace the given minutes in `normalized/futures_bars_1m`, per (symbol, trade date), so
    a minute re-sent (e.g. after a backfill) never duplicates. Without `covers` each run of
    consecutive minutes is replaced and nothing between runs (minutes another writer landed
    there stay); `covers` (bar opens, UTC, inclusive) is the span the minutes stand for whole,
    e.g. a backfilled gap, replaced in one commit per (symbol, trade date). The stream runs no
    checks: minutes landed into a session already final at `now` (the market clock; the wall
    clock when None), which may have been certified, revise it until the next capture judges
    it again."""
    if not minutes:
        return []
    frame = conform(pl.DataFrame(minutes), NORMALIZED_BARS).sort("symbol", "ts")
    commits = []
    final: dict[str, date] = {}
    for (symbol, day), group in frame.group_by("symbol", "trade_date", maintain_order=True):
        if data_final_at(symbol, day) <= (now or datetime.now(UTC)):
            final[str(partition_key(day, symbol))] = day
        runs = [group] if covers else consecutive_runs(group)
        for run in runs:
            lo, hi = covers or (run["ts"].min(), run["ts"].max())
            commits.append(
                lake.replace(
                    keys.table(keys.NORMALIZED_BARS),
                    run,
                    equals={"symbol": symbol, "trade_date": day},
                    between={"ts": (lo, hi)},
                    partition_by=["symbol"],
                    metadata=metadata,
                )
            )
    if final:
        changed_unjudged(
            lake,
            NORMALIZED_BARS_SPEC.name,
            final,
            dependents(NORMALIZED_BARS_SPEC.name, CERTIFIED_FROM),
            str(metadata.get("source", SOURCE)),
            datetime.now(UTC),
        )
    return commits


def consecutive_runs(minutes: pl.DataFrame) -> list[pl.DataFrame]:
    """`minutes` (one symbol's, sorted by `ts`) split where a minute is skipped."""
    step = pl.col("ts").diff().fill_null(MINUTE) != MINUTE
    runs = minutes.with_columns(_run=step.cum_sum())
    return [run.drop("_run") for _, run in runs.group_by("_run", maintain_order=True)]


def land_history(lake: Lake, capture: BarCapture, trade_date: date) -> pl.DataFrame:
    """Append a history capture (the backfill of a gap) to `raw/futures_bars_1m`; its rows,
    with their capture id, are returned for the normalized table."""
    rows = capture_frame(capture, trade_date.isoformat(), datetime.now(UTC))
    if rows.height:
        lake.append(
            keys.table(keys.RAW_BARS),
            rows,
            partition_by=["symbol"],
            metadata={"source": capture.source, "captures": [rows["capture_id"][0]]},
        )
    return rows
