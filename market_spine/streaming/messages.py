"""The one message schema of `GET /v1/stream/bars`: a bar with the same field names as the
historical bars (`GET /v1/bars` rows, `Spine.bars` columns), plus what kind of bar it is.

    {"type": "bar", "interval": "5s" | "1m", "origin": "realtime" | "backfill",
     "ts": "2024-03-05T14:31:00Z", "trade_date": "2024-03-05", "symbol": "CL",
     "contract": "CLJ4", "open": …, "high": …, "low": …, "close": …, "volume": …,
     "vwap": …, "trades": …, "capture_id": "01J…"}

`ts` is the bar's open (UTC), as everywhere on the platform; a `1m` bar is sent once its minute
has closed and landed in `normalized/futures_bars_1m`. `origin: backfill` marks minutes that
were missed during a disconnect and recovered from history. Status messages
(`{"type": "status", …}`) report subscriptions, disconnects and recoveries. A client that reads
too slowly loses its oldest queued messages; before the next message it gets, it is told how
many: `{"type": "dropped", "dropped": 90, "dropped_total": 130, "at": "…"}` (since the last such
report, and since it subscribed).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel


class BarMessage(BaseModel):
    """One bar as pushed to subscribers."""

    type: Literal["bar"] = "bar"
    interval: Literal["5s", "1m"]
    origin: Literal["realtime", "backfill"] = "realtime"
    ts: datetime
    trade_date: date
    symbol: str
    contract: str
    open: float
    high: float
    low: float
    close: float
    volume: int
    vwap: float | None
    trades: int | None
    capture_id: str


class StatusMessage(BaseModel):
    """A change of the stream's state: subscribed, disconnected, recovered, error."""

    type: Literal["status"] = "status"
    event: str
    detail: str = ""
    at: datetime


def status_message(event: str, detail: str, at: datetime) -> dict[str, Any]:
    """A status message, JSON-ready: what changed in the stream and when (UTC)."""
    return StatusMessage(event=event, detail=detail, at=at).model_dump(mode="json")


def bar_messages(
    rows: list[dict[str, Any]], interval: Literal["5s", "1m"], origin: str = "realtime"
) -> list[dict[str, Any]]:
    """Bar rows (platform column names) as JSON-ready messages."""
    return [
        BarMessage(interval=interval, origin=origin, **row).model_dump(mode="json") for row in rows
    ]


class DropMessage(BaseModel):
    """Messages a slow subscriber lost: `dropped` since the previous report, `dropped_total`
    since it subscribed."""

    type: Literal["dropped"] = "dropped"
    dropped: int
    dropped_total: int
    at: datetime


def drop_message(dropped: int, dropped_total: int, at: datetime) -> dict[str, Any]:
    """A drop report, JSON-ready."""
    return DropMessage(dropped=dropped, dropped_total=dropped_total, at=at).model_dump(mode="json")
