"""What a capture covers of its session, so a write of normalized minutes replaces only those.

A capture taken while its session was live holds the minutes closed by then; the minutes after
it are someone else's (the stream lands each minute as it closes) and must outlive the replace.
A capture names its last covered minute in its request (`until`); one that does not (a vendor
file, an older capture) covers at most the minutes closed when it was captured."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import polars as pl

from market_spine.markets import calendars
from market_spine.providers.base import UNTIL

MINUTE = timedelta(minutes=1)

#: The replacement window of one trade date: {"ts": (first, last)}, bar opens in UTC, inclusive.
Window = dict[str, tuple[datetime, datetime]]


def capture_end(request: str | None, captured_at: datetime | None) -> datetime | None:
    """The open (UTC) of the last bar minute a capture can hold: its request's `until`, else the
    last minute closed at `captured_at`; None when neither is known."""
    try:
        until = json.loads(request).get(UNTIL) if request else None
    except (ValueError, AttributeError):
        until = None
    if until:
        return datetime.fromisoformat(until)
    if captured_at is None:
        return None
    return captured_at.replace(second=0, microsecond=0) - MINUTE


def partial_windows(symbol: str, raw: pl.DataFrame, accepted: pl.DataFrame) -> dict[date, Window]:
    """The trade dates of `symbol` whose accepted capture (`accepted`'s rows, picked from `raw`)
    covers only part of its session, each with the window it covers: session open to the
    capture's last minute, widened to the capture's own rows. Dates whose capture covers the
    whole session (the usual case once it has closed) are absent: they are replaced whole."""
    if accepted.is_empty():
        return {}
    chosen = accepted.group_by("trade_date").agg(
        pl.col("capture_id").first(), first=pl.col("ts").min(), last=pl.col("ts").max()
    )
    provenance = raw.select("trade_date", "capture_id", "request", "captured_at").unique(
        ["trade_date", "capture_id"]
    )
    windows: dict[date, Window] = {}
    for day, _, first, last, request, captured_at in chosen.join(
        provenance, on=["trade_date", "capture_id"], how="left"
    ).iter_rows():
        session = calendars.session(symbol, day)
        end = capture_end(request, captured_at)
        if session is None or end is None:
            continue
        open_, close = session.open.to_pydatetime(), session.close.to_pydatetime()
        if end >= close - MINUTE:
            continue
        windows[day] = {"ts": (min(open_, first), max(end, last))}
    return windows


def covered_through(raw: pl.DataFrame, accepted: pl.DataFrame) -> dict[tuple[date, str], datetime]:
    """The open (UTC) of the last minute the lake's bars of each (trade date, contract) of one
    root stand for: the end of its newest capture in `raw` (trade_date, contract, capture_id,
    request, captured_at rows; `capture_end`), or its newest minute in `accepted` (the
    normalized minutes, the stream's among them: trade_date, contract, ts rows) when later.
    A live session's minutes after it are not owed yet: no source has asked for them, so
    they are not missing (pairs whose end is unknown are absent)."""
    ends: dict[tuple[date, str], datetime] = {}
    if not raw.is_empty():
        newest = raw.group_by("trade_date", "contract").agg(pl.col("capture_id").max())
        captures = raw.join(newest, on=["trade_date", "contract", "capture_id"]).unique(
            ["trade_date", "contract"]
        )
        for day, contract, request, captured_at in captures.select(
            "trade_date", "contract", "request", "captured_at"
        ).iter_rows():
            end = capture_end(request, captured_at)
            if end is not None:
                ends[(day, contract)] = end
    if not accepted.is_empty():
        newest_minutes = accepted.group_by("trade_date", "contract").agg(pl.col("ts").max())
        for day, contract, last in newest_minutes.iter_rows():
            known = ends.get((day, contract))
            ends[(day, contract)] = last if known is None else max(known, last)
    return ends
