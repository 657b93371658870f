"""The protocol every bar source implements, and the capture it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import polars as pl

#: Columns (in order) and dtypes of the bars a provider returns; `ts` is the bar's open, UTC.
BAR_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("ns", "UTC"),
    "symbol": pl.String(),
    "contract": pl.String(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Int64(),
    "vwap": pl.Float64(),
    "trades": pl.Int64(),
}


#: The request field of a capture taken while its session was live: the open (ISO, UTC) of the
#: last bar minute it covers. A writer replaces only the minutes a capture covers, so minutes
#: another writer (the stream) landed after it stay; absent when the session had closed.
UNTIL = "until"


def live_until(close: datetime, now: datetime) -> datetime | None:
    """The open (UTC) of the newest bar minute closed at `now`, the last a capture taken then
    can hold of a session closing at `close`; None once the session has closed (the capture
    covers all of it)."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    if now >= close:
        return None
    return now.replace(second=0, microsecond=0) - timedelta(minutes=1)


@dataclass(frozen=True)
class BarCapture:
    """One provider call: what was asked, the bytes that came back, the bars parsed from them."""

    source: str
    request: dict[str, Any]
    payload: bytes
    bars: pl.DataFrame
    notes: dict[str, Any] = field(default_factory=dict)


class BarProvider(Protocol):
    """Fetches one session of 1-minute bars for a futures root."""

    name: str

    def fetch_bars(self, symbol: str, trade_date: date, contract: str | None = None) -> BarCapture:
        """The bars of `symbol`'s session `trade_date` (up to now for a live session): of the
        front contract of the roll rule, or of `contract` (a local symbol such as CLZ4)."""
        ...


@dataclass(frozen=True)
class ChainCapture:
    """One end-of-day option-chain call: what was asked, the bytes back, the parsed chain."""

    source: str
    request: dict[str, Any]
    payload: bytes
    chain: pl.DataFrame


class ChainProvider(Protocol):
    """Fetches the end-of-day chain of an option root (SPX or SPXW) for one trading day."""

    name: str

    def fetch_chain(self, root: str, day: date) -> ChainCapture:
        """Every listed contract's EOD quote; empty on a day without a session."""
        ...


#: Columns (in order) of intraday option quotes; `ts` is the interval's start, UTC.
#: One option contract's end-of-day quote, as every chain provider returns it.
CHAIN_SCHEMA: dict[str, pl.DataType] = {
    "root": pl.String(),
    "expiration": pl.Date(),
    "strike": pl.Float64(),
    "right": pl.String(),
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "bid_size": pl.Int64(),
    "ask_size": pl.Int64(),
    "volume": pl.Int64(),
    "open_interest": pl.Int64(),
    "underlying_price": pl.Float64(),
}

QUOTE_SCHEMA: dict[str, pl.DataType] = {
    "root": pl.String(),
    "expiration": pl.Date(),
    "strike": pl.Float64(),
    "right": pl.String(),
    "ts": pl.Datetime("ns", "UTC"),
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "bid_size": pl.Int64(),
    "ask_size": pl.Int64(),
}


@dataclass(frozen=True)
class QuoteCapture:
    """One day of interval quotes of one expiration: the request, bytes back, parsed quotes."""

    source: str
    request: dict[str, Any]
    payload: bytes
    quotes: pl.DataFrame


class QuoteProvider(Protocol):
    """Fetches a day of 1-minute quotes for every contract of one SPX/SPXW expiration."""

    name: str

    def fetch_quotes(self, root: str, expiration: date, day: date) -> QuoteCapture:
        """The day's quotes (up to now for a live session); empty on a day without a session."""
        ...
