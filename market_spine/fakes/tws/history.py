"""Historical 1-minute TRADES bars for a reqHistoricalData window, from the simulated market.

A request covers [end - duration, end), clipped to the fake's clock; the bars are the root's
simulated session bars (the simulated market decides the front contract by its roll rule, so a
request for another month of the same root sees the same prices). Only closed minutes exist.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from market_spine.markets import calendars, instruments
from market_spine.markets.dates import MINUTE_NS
from market_spine.providers.simulated import SimulatedMarket

_DURATION = re.compile(r"^\s*(\d+)\s*([SDW])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"S": 1, "D": 86_400, "W": 7 * 86_400}
_FAR_FUTURE = datetime(2101, 1, 1, tzinfo=UTC)
#: Bar sizes and "what to show" values the fake serves.
BAR_SIZES = {"1 min": 60}
WHAT_TO_SHOW = {"TRADES"}

Row = tuple[int, float, float, float, float, int, float, int]


class BadRequest(Exception):
    """The request's parameters are invalid (TWS answers 321 "Error validating request")."""


def parse_end(text: str, now: datetime) -> datetime:
    """endDateTime as sent by ib_async: '' (now), 'YYYYMMDD-HH:MM:SS' (UTC) or
    'YYYYMMDD HH:MM:SS <zone>' (a bare time is taken as UTC)."""
    raw = text.strip()
    if not raw:
        return now
    try:
        if "-" in raw[8:9]:
            return datetime.strptime(raw, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        parts = raw.split()
        stamp = datetime.strptime(" ".join(parts[:2]), "%Y%m%d %H:%M:%S")
        zone = ZoneInfo(parts[2]) if len(parts) > 2 else UTC
    except (ValueError, ZoneInfoNotFoundError) as e:
        raise BadRequest(f"invalid endDateTime {text!r}: {e}") from None
    return stamp.replace(tzinfo=zone).astimezone(UTC)


def parse_duration(text: str) -> timedelta:
    """durationStr: 'N S', 'N D' or 'N W'."""
    m = _DURATION.match(text)
    if m is None:
        raise BadRequest(f"invalid durationStr {text!r}: use e.g. '1 D' or '3600 S'")
    return timedelta(seconds=int(m[1]) * _UNIT_SECONDS[m[2].upper()])


def _fmt(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")


class HistorySource:
    """Serves windows of simulated 1-minute bars of one contract; full sessions are cached per
    (root, date, contract), the front contract's under None."""

    def __init__(self, seed: int) -> None:
        self.market = SimulatedMarket(seed=seed, clock=lambda: _FAR_FUTURE)
        self.session_rows = lru_cache(maxsize=512)(self._session_rows)

    def _session_rows(
        self, root: str, trade_date: date, contract: str | None = None
    ) -> tuple[np.ndarray, list[Row]]:
        bars = self.market.bars(root, trade_date, contract)
        ts = bars["ts"].dt.epoch("ns").to_numpy()
        rows: list[Row] = [
            (int(t // 1_000_000_000), o, h, lo, c, int(v), w, int(n))
            for t, o, h, lo, c, v, w, n in zip(
                ts,
                *(bars[col].to_list() for col in ("open", "high", "low", "close")),
                bars["volume"].to_list(),
                bars["vwap"].to_list(),
                bars["trades"].to_list(),
                strict=True,
            )
        ]
        return ts, rows

    def minute_bar(self, root: str, minute: datetime) -> Row | None:
        """The simulated bar opening at `minute` (UTC), or None if nothing traded then."""
        sess = calendars.session_at(root, minute)
        if sess is None:
            return None
        ts, rows = self.session_rows(root, sess.trade_date)
        target = int(minute.timestamp()) * 1_000_000_000
        i = int(np.searchsorted(ts, target))
        return rows[i] if i < len(ts) and ts[i] == target else None

    def bars(
        self,
        root: str,
        end: datetime,
        duration: timedelta,
        now: datetime,
        contract: instruments.Contract | None = None,
    ) -> tuple[str, str, list[Row]]:
        """(start, end, rows) of `contract` (default each session's front) for the window
        [end - duration, end) and closed minutes only; nothing after the contract expired."""
        start = end - duration
        cutoff = min(end, now)
        lo_ns = int(start.timestamp() * 1e9)
        hi_ns = int(cutoff.timestamp() * 1e9) - MINUTE_NS  # a bar exists once its minute closed
        out: list[Row] = []
        first = start.date() - timedelta(days=1)
        last = end.date() + timedelta(days=6)
        for sess in calendars.sessions(root, first, last):
            if sess.close.value <= lo_ns or sess.open.value > hi_ns:
                continue
            day = sess.trade_date
            if contract is not None and contract.last_trade_date < day:
                continue
            front = instruments.front_contract(root, day)
            asked = None if contract in (None, front) else contract.local_symbol
            ts, rows = self.session_rows(root, day, asked)
            i, j = np.searchsorted(ts, lo_ns), np.searchsorted(ts, hi_ns, side="right")
            out.extend(rows[int(i) : int(j)])
        return _fmt(start), _fmt(end), out
