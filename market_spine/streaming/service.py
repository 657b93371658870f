"""The streamer: TWS 5-second bars → hub (at once) → raw micro-batches and closed minutes in the
lake (every `flush_seconds`), surviving disconnects by backfilling the missed minutes from
history. One IB connection serves both the real-time subscriptions and the backfill requests.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from market_spine.futures import keys
from market_spine.lake.store import Lake
from market_spine.markets import calendars
from market_spine.providers.ib import IBProvider
from market_spine.providers.ib_connection import IBConnection, IBSettings
from market_spine.providers.ib_pacing import PacingRules
from market_spine.providers.ib_realtime import IBRealtime, current_trade_date
from market_spine.streaming.aggregator import MINUTE, MinuteAggregator, minute_of
from market_spine.streaming.hub import BarHub
from market_spine.streaming.lander import (
    SeriesHoldings,
    land_history,
    land_micro_batch,
    land_minutes,
    new_capture_id,
)
from market_spine.streaming.messages import bar_messages, status_message

log = logging.getLogger(__name__)
BAR_SECONDS = 5
_SAMPLES = 20_000


@dataclass(frozen=True)
class StreamConfig:
    """Where TWS is, which roots to stream, how often to land."""

    symbols: tuple[str, ...]
    tws: IBSettings = field(default_factory=lambda: IBSettings(client_id=7))
    flush_seconds: float = 1.0
    grace_seconds: float = 10.0
    #: How long to wait after a gap's last minute closes before asking history for it.
    backfill_delay_seconds: float = 2.0
    #: How far back a start or a reconnect resumes from the lake's newest minute of a symbol
    #: (never before the current session's open): a symbol with no minute that recent in the
    #: lake is not resumed, its history is the captures' to bring.
    max_backfill: timedelta = timedelta(hours=24)
    pacing: PacingRules = field(default_factory=PacingRules)


@dataclass
class _Gap:
    """Minutes of one symbol the stream missed: [start, end] once bars flow again. A gap that
    resumes from the lake (`resumed`) stays open until bars flow, whatever TWS says it kept."""

    start: datetime
    end: datetime | None = None
    resumed: bool = False


@dataclass
class StreamStats:
    """Counters and freshness samples (seconds, on the streamer's clock)."""

    bars_5s: int = 0
    minutes: int = 0
    micro_batches: int = 0
    backfilled_minutes: int = 0
    disconnects: int = 0
    errors: int = 0
    to_hub: deque = field(default_factory=lambda: deque(maxlen=_SAMPLES))
    to_lake: deque = field(default_factory=lambda: deque(maxlen=_SAMPLES))

    def summary(self) -> dict[str, Any]:
        def pct(samples: deque, q: float) -> float | None:
            if not samples:
                return None
            ordered = sorted(samples)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        return {
            "bars_5s": self.bars_5s,
            "minutes": self.minutes,
            "micro_batches": self.micro_batches,
            "backfilled_minutes": self.backfilled_minutes,
            "disconnects": self.disconnects,
            "errors": self.errors,
            "to_hub_p50_s": pct(self.to_hub, 0.5),
            "to_hub_p99_s": pct(self.to_hub, 0.99),
            "to_lake_p50_s": pct(self.to_lake, 0.5),
            "to_lake_p99_s": pct(self.to_lake, 0.99),
        }


class Streamer:
    """Runs in background threads; `start()`, then `stop()` (or use as a context manager)."""

    def __init__(
        self,
        lake: Lake,
        config: StreamConfig,
        hub: BarHub | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.lake = lake
        self.config = config
        self.hub = hub or BarHub()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.stats = StreamStats()
        self._held = SeriesHoldings(lake)
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._unlanded: list[dict[str, Any]] = []
        self._unlanded_minutes: list[dict[str, Any]] = []
        self._aggregator = MinuteAggregator(timedelta(seconds=config.grace_seconds))
        self._lock = threading.Lock()
        self._batch_id = new_capture_id()
        self._latest: dict[str, datetime] = {}
        self._gaps: dict[str, _Gap] = {}
        # The last minute history gave each root: a partial minute of the join that closes
        # after its backfill is already there, and asking history again would repeat it.
        self._backfilled: dict[str, datetime] = {}
        self._trade_dates: dict[tuple[str, datetime], date] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connection: IBConnection | None = None
        self.realtime: IBRealtime | None = None
        self.history: IBProvider | None = None
        self.subscribed: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> dict[str, str]:
        """Connect, subscribe every symbol's front contract; returns {root: contract}."""
        c = self.config
        self.connection = IBConnection(c.tws)
        self.history = IBProvider(connection=self.connection, pacing=c.pacing, clock=self.clock)
        self.realtime = IBRealtime(
            self._on_bar, on_event=self._on_event, connection=self.connection, clock=self.clock
        )
        self.subscribed = self.realtime.subscribe(c.symbols)
        self._resume(self.subscribed)
        self._status("subscribed", ",".join(f"{k}={v}" for k, v in self.subscribed.items()))
        self._thread = threading.Thread(target=self._run, name="streamer", daemon=True)
        self._thread.start()
        return self.subscribed

    def stop(self) -> None:
        """Unsubscribe, land what arrived, disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            if self.realtime is not None:
                self.realtime.close()
            self._flush()
        except Exception:
            log.exception("final flush failed: the unlanded bars are lost with this process")
        finally:
            if self.connection is not None:
                self.connection.close()

    def __enter__(self) -> Streamer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- callbacks (connection thread) -------------------------------------------------------

    def _on_bar(self, bar: dict[str, Any]) -> None:
        bar["trade_date"] = self._trade_date(bar["symbol"], bar["ts"])
        with self._lock:
            bar["capture_id"] = self._batch_id
        self._inbox.put(bar)
        message = {
            **{k: bar[k] for k in ("ts", "trade_date", "symbol", "contract", "capture_id")},
            **{k: bar[k] for k in ("open", "high", "low", "close", "volume")},
            "vwap": bar["wap"],
            "trades": bar["count"],
        }
        self.hub.publish(bar_messages([message], "5s"))
        closed_at = bar["ts"] + timedelta(seconds=BAR_SECONDS)
        self.stats.to_hub.append((self.clock() - closed_at).total_seconds())
        self.stats.bars_5s += 1

    def _on_event(self, event: str, detail: str) -> None:
        now = self.clock()
        if event in ("disconnected", "upstream_lost", "upstream_restored_data_lost"):
            if event == "disconnected":
                self.stats.disconnects += 1
            with self._lock:
                unseen = [root for root in self.subscribed if root not in self._latest]
                for root in self.subscribed:
                    seen = self._latest.get(root)
                    if seen:
                        self._gaps.setdefault(root, _Gap(minute_of(seen)))
            # A symbol with no bar since the start resumes from the lake, as the start does.
            self._resume(unseen, fallback=minute_of(now))
        elif event == "upstream_restored":
            with self._lock:  # 1102: TWS kept the data; nothing was missed
                self._gaps = {r: g for r, g in self._gaps.items() if g.end is not None or g.resumed}
        self._status(event, detail)

    # -- the flusher thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.config.flush_seconds):
            try:
                self._flush()
                self._backfill_due()
            except Exception:
                self.stats.errors += 1
                log.exception("streamer flush failed; retrying at the next flush")

    def _flush(self) -> None:
        """Land what arrived, then the minutes that closed. A failed write (e.g. a commit
        conflict with a concurrent capture) keeps its rows for the next flush: nothing is lost."""
        with self._lock:
            batch_id, self._batch_id = self._batch_id, new_capture_id()
        while True:
            try:
                self._unlanded.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        # Each bar lands in the capture its message already cited (a bar arriving during the
        # swap carries the next id and lands under it).
        by_capture: dict[str, list[dict[str, Any]]] = {}
        for bar in self._unlanded:
            by_capture.setdefault(bar["capture_id"], []).append(bar)
        for capture_id, group in by_capture.items():
            request = {"symbols": sorted({b["symbol"] for b in group}), "bar_size": "5 secs"}
            land_micro_batch(self.lake, group, capture_id, request)
            self._unlanded = [b for b in self._unlanded if b["capture_id"] != capture_id]
            self.stats.micro_batches += 1
            batch_id = capture_id
            for bar in group:
                self._note_bar(bar)
                self._aggregator.add(bar)
        closed = []
        for m in self._aggregator.closed(self.clock()):
            if not m.pop("complete"):
                self._add_gap(m["symbol"], m["ts"])  # joined or dropped mid-minute
            elif not self._owned(m):
                closed.append(m)
        for m in closed:
            m["trade_date"] = self._trade_date(m["symbol"], m["ts"])
            m["capture_id"] = batch_id
        minutes, self._unlanded_minutes = [*self._unlanded_minutes, *closed], []
        if not minutes:
            return
        try:
            land_minutes(
                self.lake,
                minutes,
                {"source": "ib-realtime", "captures": [batch_id]},
                now=self.clock(),
                held=self._held,
            )
        except Exception:
            self._unlanded_minutes = minutes
            raise
        now = self.clock()
        for m in minutes:
            self.stats.to_lake.append((now - (m["ts"] + MINUTE)).total_seconds())
        self.stats.minutes += len(minutes)
        self.hub.publish(bar_messages(minutes, "1m"))

    def _add_gap(self, root: str, minute: datetime) -> None:
        """Give `minute` to the backfill, widening the symbol's open gap if there is one; a
        minute a backfill already brought is left as it is."""
        with self._lock:
            if minute <= self._backfilled.get(root, minute - MINUTE):
                return
            gap = self._gaps.get(root)
            if gap is None:
                self._gaps[root] = _Gap(minute, minute)
                return
            gap.start = min(gap.start, minute)
            if gap.end is not None:
                gap.end = max(gap.end, minute)

    def _note_bar(self, bar: dict[str, Any]) -> None:
        """Track the newest bar per symbol and close an open gap at the first bar after it."""
        root, ts = bar["symbol"], bar["ts"]
        with self._lock:
            gap = self._gaps.get(root)
            if gap is not None and gap.end is None and minute_of(ts) > gap.start:
                gap.end = minute_of(ts)
            if ts > self._latest.get(root, ts - MINUTE):
                self._latest[root] = ts

    def _owned(self, minute: dict[str, Any]) -> bool:
        """A minute inside a gap belongs to the backfill (the stream saw only part of it)."""
        gap = self._gaps.get(minute["symbol"])
        if gap is None:
            return False
        return gap.start <= minute["ts"] and (gap.end is None or minute["ts"] <= gap.end)

    def _backfill_due(self) -> None:
        delay = timedelta(seconds=self.config.backfill_delay_seconds)
        now = self.clock()
        with self._lock:
            due = {r: g for r, g in self._gaps.items() if g.end and now >= g.end + MINUTE + delay}
        for root, gap in due.items():
            self._backfill(root, gap)
            with self._lock:
                self._gaps.pop(root, None)
                brought = max(gap.end or gap.start, self._backfilled.get(root, gap.start))
                self._backfilled[root] = brought

    def _backfill(self, root: str, gap: _Gap) -> None:
        """Fetch the gap's minutes from history, land them as a raw capture and in the
        normalized table, and push them marked `origin: backfill`."""
        assert self.history is not None and gap.end is not None
        days = sorted({self._trade_date(root, gap.start), self._trade_date(root, gap.end)})
        rows = []
        for day in days:
            capture = self.history.fetch_bars(root, day)
            raw = land_history(self.lake, capture, day)
            rows.append(raw.filter(pl.col("ts").is_between(gap.start, gap.end)))
        found = pl.concat(rows)
        minutes = found.drop("captured_at", "source", "request", "payload_sha256").to_dicts()
        reason = {"source": "ib", "reason": "stream backfill"}
        land_minutes(
            self.lake,
            minutes,
            reason,
            covers=(gap.start, gap.end),
            now=self.clock(),
            held=self._held,
        )
        self.stats.backfilled_minutes += len(minutes)
        self.hub.publish(bar_messages(minutes, "1m", origin="backfill"))
        count = f"{len(minutes)} minute{'s' if len(minutes) != 1 else ''}"
        self._status(
            "backfilled",
            f"{root} {gap.start:%H:%M}–{gap.end:%H:%M} UTC from history: {count} landed",
        )

    # -- resuming from the lake --------------------------------------------------------------

    def _resume(self, roots: Iterable[str], fallback: datetime | None = None) -> None:
        """Open a gap for each of `roots` from the minute after the lake's newest one of its
        session (`resume_from`) to the minute the stream joins (its first bar), so the backfill
        fills the hole a start or a reconnect would leave; `fallback` starts a gap for a root
        with nothing to resume from."""
        now = self.clock()
        for root in roots:
            start = resume_from(self.lake, root, now, self.config.max_backfill)
            if start is not None:
                gap = _Gap(start, resumed=True)
            elif fallback is not None:
                gap = _Gap(fallback)
            else:
                continue
            with self._lock:
                self._gaps.setdefault(root, gap)
            if gap.resumed:
                self._status("resuming", f"{root} from {start:%Y-%m-%d %H:%M} UTC")

    # -- helpers -----------------------------------------------------------------------------

    def _trade_date(self, root: str, ts: datetime) -> date:
        key = (root, minute_of(ts))
        found = self._trade_dates.get(key)
        if found is None:
            if len(self._trade_dates) > 10_000:  # a day of minutes for a handful of roots
                self._trade_dates.clear()
            found = self._trade_dates[key] = current_trade_date(root, ts)
        return found

    def _status(self, event: str, detail: str) -> None:
        log.info("stream %s %s", event, detail)
        self.hub.publish([status_message(event, detail, self.clock())])


def resume_from(lake: Lake, root: str, now: datetime, limit: timedelta) -> datetime | None:
    """The first minute (UTC) of `root`'s current session the lake lacks before `now`: the one
    after its newest minute there, or the session's open when that minute is an earlier
    session's; None when nothing is missing, or when the lake has no minute of `root` within
    `limit` before `now` (nothing to resume: the stream starts where it joins)."""
    joined = minute_of(now.astimezone(UTC))
    day = current_trade_date(root, joined)
    session = calendars.session(root, day)
    if session is None or session.open >= joined:
        return None
    earliest = joined - limit
    table = keys.table(keys.NORMALIZED_BARS)
    if not lake.exists(table):
        return None
    rows = lake.read(
        table,
        equals={"symbol": root},
        between={"trade_date": (current_trade_date(root, earliest), day)},
        columns=["ts"],
    )
    newest = rows.filter(pl.col("ts").is_between(earliest, joined))["ts"].max()
    if newest is None:
        return None
    start = max(newest + MINUTE, session.open.to_pydatetime(), earliest)  # type: ignore[operator]
    return start if start < joined else None
