"""Writes of the streaming path: 5-second micro-batches as raw captures, closed minutes into the
normalized table and into every continuous series holding their contract that session
(replacing exactly those minutes, per symbol and session, in both tables together), and
backfilled history as an ordinary raw 1-minute capture."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
from ulid import ULID

from market_spine.catalog.vocabulary import conform
from market_spine.certification.withdrawal import changed_unjudged, dependents
from market_spine.futures import keys
from market_spine.futures.catalog import CERTIFIED_FROM, NORMALIZED_BARS_SPEC
from market_spine.futures.continuous import continuous_minutes
from market_spine.futures.partitions import partition_key
from market_spine.futures.raw_bars import capture_frame
from market_spine.futures.roll_table import holdings_on
from market_spine.futures.schemas import NORMALIZED_BARS
from market_spine.lake.commits import CommitInfo, Replacement
from market_spine.lake.store import Lake
from market_spine.markets.calendars import data_final_at
from market_spine.providers.base import BarCapture
from market_spine.streaming.schemas import RAW_BARS_5S, RAW_BARS_5S_TABLE

log = logging.getLogger(__name__)
SOURCE = "ib-realtime"
MINUTE = timedelta(minutes=1)
NORMALIZED = keys.table(keys.NORMALIZED_BARS)
CONTINUOUS = keys.table(keys.CONTINUOUS_BARS)

#: The holdings (`rolls.holdings` rows) of a root's continuous series on a trade date.
Held = Callable[[str, date], pl.DataFrame]


class SeriesHoldings:
    """Which contract each continuous series of a root holds on a trade date, read from the
    lake once per (root, session): a roll takes effect at a session's open, so the answer
    holds for the whole session, and the stream asks it at every flush."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._known: dict[tuple[str, date], pl.DataFrame] = {}

    def __call__(self, root: str, day: date) -> pl.DataFrame:
        key = (root, day)
        if key not in self._known:
            if len(self._known) > 64:  # a few sessions of a handful of roots
                self._known.clear()
            self._known[key] = holdings_on(self.lake, root, day)
        return self._known[key]


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
    held: Held | None = None,
) -> list[CommitInfo]:
    """Replace the given minutes in `normalized/futures_bars_1m`, per (symbol, trade date), so
    a minute re-sent (e.g. after a backfill) never duplicates, and the same minutes of every
    continuous series holding their contract that session (`held`: the holdings of a root on
    a trade date; read from the lake when None), so no series lags its root until the next
    capture rebuilds it. Without `covers` each run of consecutive minutes is replaced and
    nothing between runs (minutes another writer landed there stay); `covers` (bar opens,
    UTC, inclusive) is the span the minutes stand for whole, e.g. a backfilled gap, replaced
    in one commit per table, (symbol, trade date) and series. A run's writes land together:
    when one fails, those it committed are put back and the error raised, so every table
    holds what it held before (the caller lands the minutes again). The stream runs no
    checks: minutes landed into a session already final at `now` (the market clock; the wall
    clock when None), which may have been certified, revise it until the next capture judges
    it again."""
    if not minutes:
        return []
    held = held or SeriesHoldings(lake)
    frame = conform(pl.DataFrame(minutes), NORMALIZED_BARS).sort("symbol", "ts")
    commits: list[CommitInfo] = []
    final: dict[str, date] = {}
    for (symbol, day), group in frame.group_by("symbol", "trade_date", maintain_order=True):
        if data_final_at(symbol, day) <= (now or datetime.now(UTC)):
            final[str(partition_key(day, symbol))] = day
        runs = [group] if covers else consecutive_runs(group)
        for run in runs:
            writes = [(NORMALIZED, run, {"symbol": symbol, "trade_date": day})]
            writes += series_writes(run, held(symbol, day))
            span = covers or (run["ts"].min(), run["ts"].max())
            commits.extend(replace_together(lake, writes, {"ts": span}, metadata))
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


#: One replacement: the table, its new rows, the columns they equal (the rows it replaces).
Write = tuple[str, pl.DataFrame, dict[str, Any]]


def series_writes(run: pl.DataFrame, held: pl.DataFrame) -> list[Write]:
    """The continuous writes of one run of a symbol's minutes (one trade date): for each
    series that holds a contract of the run that session (`held`: holdings rows), its minutes
    of the run; a series holding another contract is left alone."""
    holding = held.filter(pl.col("contract").is_in(run["contract"].unique().to_list()))
    rows = continuous_minutes(run, holding)
    return [
        (
            CONTINUOUS,
            rows.filter(pl.col("series") == series),
            {"symbol": symbol, "trade_date": day, "series": series},
        )
        for symbol, day, series in holding.select("symbol", "trade_date", "series").iter_rows()
    ]


def replace_together(
    lake: Lake,
    writes: Sequence[Write],
    between: Mapping[str, tuple[Any, Any]],
    metadata: Mapping[str, Any],
) -> list[Replacement]:
    """Replace each write's rows (where its columns equal and `between` holds), one commit
    each, in order. When one fails, the writes already committed are replaced back with the
    rows they replaced, newest first, and the error is raised: the tables hold what they held
    before (their histories keep both commits)."""
    done: list[tuple[Write, Replacement]] = []
    try:
        for write in writes:
            dataset, rows, equals = write
            replaced = lake.replace(
                dataset,
                rows,
                equals=equals,
                between=between,
                partition_by=["symbol"],
                metadata=metadata,
                return_replaced=True,
            )
            done.append((write, replaced))
    except Exception:
        for (dataset, _, equals), replacement in reversed(done):
            assert replacement.replaced is not None  # asked for with return_replaced
            try:
                lake.replace(
                    dataset,
                    replacement.replaced,
                    equals=equals,
                    between=between,
                    partition_by=["symbol"],
                    metadata={**metadata, "reason": "put back: a write landed with it failed"},
                )
            except Exception:
                log.exception("putting back %s where %s failed", dataset, equals)
        raise
    return [replacement for _, replacement in done]


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
