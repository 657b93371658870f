"""Real-time 5-second TRADES bars from TWS for the streaming service, kept alive across drops.

    rt = IBRealtime(on_bar, IBSettings(host="127.0.0.1", port=4002, client_id=2),
                    on_event=lambda event, detail: ...)
    rt.subscribe(["CL", "ES"])   # front contracts for today's trade date -> {"CL": "CLZ4", ...}
    ...
    rt.close()

`on_bar` receives one dict per bar: ts (bar start, UTC datetime), symbol, contract, open, high,
low, close, volume, wap, count. `on_event(event, detail)` reports "disconnected", "reconnected",
"upstream_lost" (1100), "upstream_restored" (1102) and "upstream_restored_data_lost" (1101), and
"resubscribed" once subscriptions are renewed after a reconnect or a 1101: the streamer should
backfill the minutes it missed between "disconnected"/"upstream_lost" and "resubscribed" from
history. Callbacks run on the connection's loop thread: keep them short and thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import ib_async

from market_spine.errors import UnknownContract
from market_spine.markets import calendars, instruments
from market_spine.observability.metrics import count_request
from market_spine.providers.ib import error_for, ib_future
from market_spine.providers.ib_connection import IBClient, IBConnection, IBSettings

log = logging.getLogger(__name__)

BarCallback = Callable[[dict[str, Any]], None]
EventCallback = Callable[[str, str], None]


def current_trade_date(root: str, now: datetime) -> date:
    """The trade date whose session contains `now`, else the next one (weekend, break)."""
    sess = calendars.session_at(root, now)
    if sess is not None:
        return sess.trade_date
    later = calendars.sessions(root, now.date(), now.date() + timedelta(days=14))
    nxt = next((s for s in later if s.open > now), None)
    return nxt.trade_date if nxt is not None else now.date()


class IBRealtime(IBClient):
    """5-second bar subscriptions for futures roots' front contracts (default
    `IBSettings(client_id=2)`)."""

    def __init__(
        self,
        on_bar: BarCallback,
        settings: IBSettings | None = None,
        *,
        on_event: EventCallback | None = None,
        clock: Callable[[], datetime] | None = None,
        connection: IBConnection | None = None,
    ) -> None:
        super().__init__(settings or IBSettings(client_id=2), connection, clock)
        self.on_bar = on_bar
        self.on_event = on_event
        self._subs: dict[str, tuple[ib_async.Contract, ib_async.RealTimeBarList | None]] = {}
        self.connection.listeners.append(self._on_connection_event)

    # -- public API (thread-safe) ------------------------------------------------------------

    def subscribe(self, roots: Iterable[str], trade_date: date | None = None) -> dict[str, str]:
        """Subscribe each root's front contract (for `trade_date`, default: now's session);
        returns {root: local symbol}. UnknownContract / NotSubscribed if TWS refuses."""
        return self.connection.run(self._subscribe(list(roots), trade_date))

    def unsubscribe(self, roots: Iterable[str] | None = None) -> None:
        """Cancel the given roots' subscriptions (all when None)."""
        self.connection.run(self._unsubscribe(None if roots is None else list(roots)))

    def subscriptions(self) -> dict[str, str]:
        """{root: local symbol} currently subscribed."""
        return {root: c.localSymbol for root, (c, _) in self._subs.items()}

    def close(self) -> None:
        """Cancel every subscription and, if it owns it, close the connection."""
        try:
            self.unsubscribe()
        except Exception:
            log.debug("unsubscribe on close failed", exc_info=True)
        self.connection.listeners.remove(self._on_connection_event)
        super().close()

    # -- on the loop -------------------------------------------------------------------------

    async def _subscribe(self, roots: list[str], trade_date: date | None) -> dict[str, str]:
        ib = await self.connection.ensure()
        out = {}
        for symbol in roots:
            root = instruments.get_instrument(symbol).root
            day = trade_date or current_trade_date(root, self.clock().astimezone(UTC))
            future, front = ib_future(root, day)
            future.includeExpired = False  # live data exists only for live contracts
            what = f"real-time bars of {front.local_symbol}"
            try:
                found = await self.connection.race(ib.qualifyContractsAsync(future), what)
            except ib_async.RequestError as e:
                raise (error_for(e, what) or UnknownContract(what)) from None
            if not found or found[0] is None:
                raise UnknownContract(f"IB has no unique definition of {front.local_symbol}")
            self._subs[root] = (found[0], None)
            self._start(ib, root)
            out[root] = found[0].localSymbol
        return out

    async def _unsubscribe(self, roots: list[str] | None) -> None:
        for root in list(self._subs) if roots is None else roots:
            entry = self._subs.pop(instruments.get_instrument(root).root, None)
            if entry is not None and entry[1] is not None and self.connection.ib.isConnected():
                self.connection.ib.cancelRealTimeBars(entry[1])

    def _start(self, ib: ib_async.IB, root: str) -> None:
        contract, _ = self._subs[root]
        count_request("ib", "realtime_bars")
        bars = ib.reqRealTimeBars(contract, 5, "TRADES", False)
        bars.updateEvent += lambda b, _new: self._deliver(root, contract, b)
        self._subs[root] = (contract, bars)

    def _deliver(self, root: str, contract: ib_async.Contract, bars: Any) -> None:
        if not bars:
            return
        b = bars[-1]
        row = {
            "ts": b.time.astimezone(UTC),
            "symbol": root,
            "contract": contract.localSymbol,
            "open": b.open_,
            "high": b.high,
            "low": b.low,
            "close": b.close,
            "volume": int(b.volume),
            "wap": b.wap,
            "count": b.count,
        }
        try:
            self.on_bar(row)
        except Exception:
            log.exception("real-time bar callback failed for %s", root)

    def _on_connection_event(self, event: str, detail: str) -> None:
        self._emit(event, detail)
        if event in ("reconnected", "upstream_restored_data_lost") and self._subs:
            ib = self.connection.ib
            for root, (_, old) in list(self._subs.items()):
                if event == "upstream_restored_data_lost" and old is not None:
                    ib.cancelRealTimeBars(old)
                self._start(ib, root)
            self._emit("resubscribed", ",".join(sorted(self._subs)))

    def _emit(self, event: str, detail: str) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event, detail)
        except Exception:
            log.exception("real-time event callback failed on %s", event)
