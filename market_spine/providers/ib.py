"""The `ib` BarProvider: one session of 1-minute TRADES bars from TWS / IB Gateway (ib_async).

For (root, trade date) it resolves the front contract by our roll rule
(`instruments.front_contract`), or the contract asked for (the raw asset asks for the next months
too: `markets.rolls.captured_contracts`), qualifies it with IB, and asks for 1-minute TRADES bars
with `useRTH=False, formatDate=2` (UTC epoch seconds) in `1 D` windows ending at the CME session's
close (two or more windows when a holiday makes the session longer than a day). Only bars inside
the session's [open, close) whose minute has closed are kept, so a live capture is a prefix of
the final one. Requests go through `HistoricalPacer`, so TWS's pacing rules are never broken.

Errors map to the platform's classes: 162 "no data" is an empty capture (not an error), 162
pacing is waited out and retried, 200 is `UnknownContract`, 354 is `NotSubscribed`, a dropped
socket / 1101 / a timeout is retried after reconnecting, and `ProviderUnavailable` is raised
when TWS stays unreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import ib_async
import polars as pl
from ib_async import BarDataList, RequestError

from market_spine.errors import (
    NotSubscribed,
    PacingViolation,
    ProviderError,
    ProviderUnavailable,
    UnknownContract,
)
from market_spine.markets import calendars, instruments
from market_spine.observability.metrics import (
    count_error,
    count_pacing_violation,
    count_request,
)
from market_spine.providers.base import BAR_SCHEMA, UNTIL, BarCapture, live_until
from market_spine.providers.ib_connection import (
    ConnectionLost,
    IBClient,
    IBConnection,
    IBSettings,
)
from market_spine.providers.ib_pacing import HistoricalPacer, PacingRules

log = logging.getLogger(__name__)

BAR_SIZE = "1 min"
WHAT = "TRADES"
DURATION = "1 D"
_DAY = timedelta(days=1)
_MINUTE = timedelta(minutes=1)


def ib_future(
    root: str, trade_date: date, contract: str | None = None
) -> tuple[ib_async.Future, instruments.Contract]:
    """The unqualified ib_async Future of `contract` (a local symbol such as CLZ4), by default
    `root`'s front contract on `trade_date`."""
    inst = instruments.get_instrument(root)
    if contract is None:
        c = instruments.front_contract(inst.root, trade_date)
    else:
        c = instruments.parse_local_symbol(contract, near=trade_date)
        if c.root != inst.root:
            raise UnknownContract(f"{contract} is not a {inst.root} contract: pass one of its own")
    fut = ib_async.Future(
        symbol=inst.root,
        lastTradeDateOrContractMonth=f"{c.year}{c.month:02d}",
        exchange=inst.exchange,
        currency=inst.currency,
    )
    fut.includeExpired = True  # history of expired months needs it, or TWS answers 200
    return fut, c


def error_for(e: RequestError, what: str) -> ProviderError | None:
    """The platform error for a TWS request error; None for 162 "no data" (an empty answer)."""
    text = e.message or ""
    low = text.lower()
    if e.code == 162 and "pacing violation" in low:
        return PacingViolation(
            f"IB refused {what} for pacing (error 162: {text}); the client-side pacer should "
            "prevent this: is another program requesting history on the same TWS?"
        )
    if e.code == 162 and ("no data" in low or "returned no data" in low):
        return None
    if e.code == 200:
        return UnknownContract(
            f"IB has no definition of {what} (error 200: {text}): check the symbol, the "
            "contract month is listed and not expired beyond IB's history, and the exchange"
        )
    if e.code == 354:
        return NotSubscribed(
            f"IB refused {what}: the account lacks the market-data subscription (error 354: "
            f"{text}). Subscribe to the exchange's data (e.g. CME/NYMEX real-time or "
            "historical) in Client Portal > Settings > Market Data Subscriptions"
        )
    return ProviderError(f"IB error {e.code} on {what}: {text}")


class IBProvider(IBClient):
    """BarProvider over TWS / IB Gateway (default `IBSettings()`); use as a context manager or
    call `close()`."""

    name = "ib"

    def __init__(
        self,
        settings: IBSettings | None = None,
        *,
        pacing: PacingRules | None = None,
        max_attempts: int = 5,
        retry_wait: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        connection: IBConnection | None = None,
    ) -> None:
        super().__init__(settings or IBSettings(), connection, clock)
        self.pacing = pacing or PacingRules()
        self.pacer = self.connection.run(self._make_pacer())
        self.max_attempts = max_attempts
        self.retry_wait = retry_wait
        self._qualified: dict[tuple[str, int, int], ib_async.Contract] = {}
        self._qualifying: dict[tuple[str, int, int], asyncio.Lock] = {}
        self.retries = 0

    async def _make_pacer(self) -> HistoricalPacer:
        return HistoricalPacer(self.pacing)  # built on the connection's loop

    # -- public API --------------------------------------------------------------------------

    def fetch_bars(self, symbol: str, trade_date: date, contract: str | None = None) -> BarCapture:
        """The session's 1-minute bars up to now, of the front contract or of `contract` (a
        local symbol); an empty capture on a date without a session."""
        return self.connection.run(self.fetch_bars_async(symbol, trade_date, contract))

    def fetch_many(self, items: Iterable[tuple[str, date]]) -> list[BarCapture]:
        """Many sessions concurrently (the pacer keeps them inside TWS's rules), in order."""

        async def all_of() -> list[BarCapture]:
            return list(await asyncio.gather(*(self.fetch_bars_async(s, d) for s, d in items)))

        return self.connection.run(all_of())

    async def fetch_bars_async(
        self, symbol: str, trade_date: date, contract: str | None = None
    ) -> BarCapture:
        """`fetch_bars` on the connection's loop."""
        inst = instruments.get_instrument(symbol)
        root = inst.root
        sess = calendars.session(root, trade_date)
        now = self.clock().astimezone(UTC)
        future, front = ib_future(root, trade_date, contract)
        request: dict[str, Any] = {
            "symbol": root,
            "trade_date": trade_date.isoformat(),
            "contract": front.local_symbol,
            "exchange": inst.exchange,
            "bar_size": BAR_SIZE,
            "what": WHAT,
            "use_rth": False,
            "format_date": 2,
            "duration": DURATION,
        }
        if sess is None or sess.open >= now:
            request["windows"] = []
            why = "no session" if sess is None else "session not open yet"
            return self._capture(request, [], pl.DataFrame(schema=BAR_SCHEMA), {"empty": why})
        contract = await self._qualify(future, front)
        request["con_id"] = contract.conId
        end = min(sess.close.to_pydatetime(), now)
        until = live_until(sess.close.to_pydatetime(), now)
        if until is not None:
            request[UNTIL] = until.isoformat()
        n = max(1, math.ceil((end - sess.open.to_pydatetime()) / _DAY))
        ends = [end - i * _DAY for i in range(n)][::-1]
        request["windows"] = [ib_async.util.formatIBDatetime(e) for e in ends]
        windows = [await self._window(contract, e) for e in request["windows"]]
        bars = _bars_frame(windows, root, front.local_symbol)
        inside = (
            (pl.col("ts") >= sess.open.to_pydatetime())
            & (pl.col("ts") < sess.close.to_pydatetime())
            & (pl.col("ts") <= now - _MINUTE)
        )
        kept = bars.filter(inside).unique("ts", keep="first").sort("ts")
        notes = {"received": bars.height, "kept": kept.height, "requests": len(ends)}
        return self._capture(request, windows, kept, notes)

    # -- internals ---------------------------------------------------------------------------

    def _capture(
        self,
        request: dict[str, Any],
        windows: list[dict[str, Any]],
        bars: pl.DataFrame,
        notes: dict,
    ) -> BarCapture:
        payload = json.dumps({"request": request, "windows": windows}, separators=(",", ":"))
        return BarCapture(self.name, request, payload.encode(), bars, notes)

    async def _qualify(
        self, future: ib_async.Future, front: instruments.Contract
    ) -> ib_async.Contract:
        key = (front.root, front.year, front.month)
        # One qualification per contract even when many sessions of it are fetched at once.
        async with self._qualifying.setdefault(key, asyncio.Lock()):
            if key not in self._qualified:
                self._qualified[key] = await self._qualify_once(future, front)
        return self._qualified[key]

    async def _qualify_once(
        self, future: ib_async.Future, front: instruments.Contract
    ) -> ib_async.Contract:
        what = f"{front.local_symbol} ({future.symbol} {future.lastTradeDateOrContractMonth} "
        what += f"on {future.exchange})"

        async def qualify(ib: ib_async.IB) -> list[ib_async.Contract | None]:
            count_request(self.name, "contract_details")
            return await self.connection.race(ib.qualifyContractsAsync(future), what)

        result = await self._with_retries(what, qualify)
        if not result or result[0] is None:
            raise UnknownContract(
                f"IB has no unique definition of {what}: check the contract month is listed "
                "and the exchange is right"
            )
        contract = result[0]
        contract.includeExpired = True  # qualification resets it from IB's details
        return contract

    async def _window(self, contract: ib_async.Contract, end: str) -> dict[str, Any]:
        """One reqHistoricalData window as received: {"end", "bars": [[epoch, o, h, l, c, v,
        average, barCount], ...]}; no bars when TWS says the query returned no data."""
        identical = (contract.conId, end, DURATION, BAR_SIZE, WHAT, False, 2)
        contract_key = (contract.conId, contract.exchange, WHAT)
        what = f"1-min {WHAT} bars of {contract.localSymbol} ending {end}"

        async def request(ib: ib_async.IB) -> list[ib_async.BarData]:
            async with self.pacer.slot(identical, contract_key):
                return await self._historical(ib, contract, end, what)

        bars = await self._with_retries(what, request)
        rows = [
            [
                int(b.date.timestamp()) if isinstance(b.date, datetime) else str(b.date),
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.average,
                b.barCount,
            ]
            for b in bars
        ]
        return {"end": end, "bars": rows}

    async def _historical(
        self, ib: ib_async.IB, contract: ib_async.Contract, end: str, what: str
    ) -> list[ib_async.BarData]:
        # ib_async's reqHistoricalDataAsync turns a timeout into an empty list (indistinguishable
        # from "no data"), so the request is issued at the client level with our own timeout.
        req_id = ib.client.getReqId()
        count_request(self.name, "historical_data")
        container = BarDataList()
        future = ib.wrapper.startReq(req_id, contract, container=container)
        ib.client.reqHistoricalData(
            req_id, contract, end, DURATION, BAR_SIZE, WHAT, False, 2, False, []
        )
        try:
            return list(await self.connection.race(future, what))
        except TimeoutError:
            if ib.isConnected():
                ib.client.cancelHistoricalData(req_id)
            raise

    async def _with_retries(self, what: str, call: Callable[[ib_async.IB], Any]) -> Any:
        """`call(ib)` with retries for what a retry can fix; the platform error otherwise.

        `call` races its own request against connection loss and timeout (not the pacer's wait,
        which may legitimately last minutes at TWS's real windows)."""
        last: ProviderError | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                ib = await self.connection.ensure()
                return await call(ib)
            except RequestError as e:
                err = error_for(e, what)
                if err is None:
                    return []
                count_error(self.name, type(err).__name__)
                if not isinstance(err, PacingViolation):
                    raise err from None
                count_pacing_violation(self.name)
                last = err
                wait = self.pacing.identical_s + self.pacing.margin_s
            except (ConnectionLost, ConnectionError, TimeoutError) as e:
                count_error(self.name, "timeout" if isinstance(e, TimeoutError) else "connection")
                last = ProviderUnavailable(
                    f"{what} failed {attempt} time(s), last because {e}: TWS / IB Gateway "
                    "dropped the connection or stopped answering; check that it is running "
                    "and logged in"
                )
                wait = self.retry_wait * 2 ** (attempt - 1)
            self.retries += 1
            log.warning("IB %s: attempt %d failed (%s); retrying", what, attempt, last)
            await asyncio.sleep(wait)
        assert last is not None
        raise last


def _bars_frame(windows: list[dict[str, Any]], root: str, local_symbol: str) -> pl.DataFrame:
    """BAR_SCHEMA rows from the windows' raw bars (ts = bar open, UTC)."""
    rows = [b for w in windows for b in w["bars"]]
    if not rows:
        return pl.DataFrame(schema=BAR_SCHEMA)
    cols = list(zip(*rows, strict=True))
    return pl.DataFrame(
        {
            "ts": (pl.Series(cols[0], dtype=pl.Int64) * 1_000_000_000).cast(
                pl.Datetime("ns", "UTC")
            ),
            "symbol": [root] * len(rows),
            "contract": [local_symbol] * len(rows),
            "open": cols[1],
            "high": cols[2],
            "low": cols[3],
            "close": cols[4],
            "volume": pl.Series(cols[5], dtype=pl.Float64).round(0).cast(pl.Int64),
            "vwap": cols[6],
            "trades": cols[7],
        }
    ).cast(BAR_SCHEMA)  # type: ignore[arg-type]
