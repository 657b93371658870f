"""One client connection to the fake TWS: handshake, start-up replies, requests and faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from market_spine.fakes.tws import protocol as p
from market_spine.fakes.tws.contracts import FutureSpec, contract_details, resolve
from market_spine.fakes.tws.faults import (
    CONNECTIVITY_TEXT,
    NO_DATA_TEXT,
    NOT_SUBSCRIBED_TEXT,
    PACING_TEXT,
    UNKNOWN_TEXT,
    Fault,
    RequestKind,
)
from market_spine.fakes.tws.history import (
    BAR_SIZES,
    WHAT_TO_SHOW,
    BadRequest,
    parse_duration,
    parse_end,
)
from market_spine.fakes.tws.realtime import BAR_SECONDS
from market_spine.markets import instruments

if TYPE_CHECKING:
    from market_spine.fakes.tws.server import FakeTWS

log = logging.getLogger(__name__)

_FARM_NOTICES = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)


@dataclass
class _Request:
    """An outstanding request's task, so a cancel or a closed socket can stop it."""

    task: asyncio.Task[None]
    kind: RequestKind


class ClientSession:
    """Serves one socket until the client leaves or the server drops it."""

    def __init__(
        self, server: FakeTWS, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.requests: dict[int, _Request] = {}
        self.closed = False

    # -- plumbing ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue a whole frame (no await between frames, so frames never interleave)."""
        if not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    def abort(self) -> None:
        """Close the socket at once, as a crashed or restarting TWS does."""
        self.closed = True
        self.writer.transport.abort()

    def event(self, code: int, text: str | None = None) -> None:
        """An unsolicited notice (reqId -1), e.g. 1100/1101/1102."""
        self.send(p.error(-1, code, text or CONNECTIVITY_TEXT.get(code, "")))
        if code == 1101:  # data lost: subscriptions are gone, clients must resubscribe
            for req_id, req in list(self.requests.items()):
                if req.kind == "realtime":
                    req.task.cancel()
                    self.requests.pop(req_id, None)

    @property
    def today(self) -> date:
        return self.server.clock.now().date()

    # -- connection lifecycle ----------------------------------------------------------------

    async def run(self) -> None:
        try:
            if not await self._handshake():
                return
            while True:
                payload = await p.read_frame(self.reader)
                received = time.monotonic()
                fields = p.fields_of(payload)
                if fields:
                    self._dispatch(fields, received)
        except (asyncio.IncompleteReadError, ConnectionError, p.ProtocolError):
            pass
        finally:
            self.closed = True
            for req in self.requests.values():
                req.task.cancel()
            self.requests.clear()
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _handshake(self) -> bool:
        prefix = await self.reader.readexactly(len(p.HANDSHAKE_PREFIX))
        if prefix != p.HANDSHAKE_PREFIX:
            return False
        await p.read_frame(self.reader)  # "v157..178": any range including SERVER_VERSION works
        stamp = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")
        self.send(p.handshake_reply(stamp))
        fields = p.fields_of(await p.read_frame(self.reader))
        if not fields or int(fields[0]) != p.START_API:
            return False
        client_id = int(fields[2])
        if client_id in self.server.client_ids():
            self.send(
                p.error(
                    -1,
                    326,
                    "Unable to connect as the client id is already in use. "
                    "Retry with a unique client id.",
                )
            )
            await self.writer.drain()
            return False
        self.client_id = client_id
        self.server.stats.count("requests", "start_api")
        self.send(p.managed_accounts(",".join(self.server.config.accounts)))
        self.send(p.next_valid_id(1))
        if self.server.config.farm_notices:
            for code, text in _FARM_NOTICES:
                self.send(p.error(-1, code, text))
        return True

    # -- requests ----------------------------------------------------------------------------

    def _dispatch(self, fields: list[str], received: float) -> None:
        msg_id = int(fields[0])
        self.server.stats.count("requests", p.REQUEST_NAMES.get(msg_id, f"msg_{msg_id}"))
        f = p.FieldCursor(fields[1:])
        account = self.server.config.accounts[0]
        if msg_id == p.REQ_HISTORICAL_DATA:
            self._historical(f, received)
        elif msg_id == p.REQ_CONTRACT_DETAILS:
            f.text()  # version
            req_id = f.int()
            self._start(req_id, "contract_details", self._contract_details(req_id, f))
        elif msg_id == p.REQ_REAL_TIME_BARS:
            f.text()
            req_id = f.int()
            self._start(req_id, "realtime", self._real_time_bars(req_id, f))
        elif msg_id in (p.CANCEL_HISTORICAL_DATA, p.CANCEL_REAL_TIME_BARS):
            f.text()
            req = self.requests.pop(f.int(), None)
            if req is not None:
                req.task.cancel()
        elif msg_id == p.REQ_CURRENT_TIME:
            self.send(p.current_time(int(self.server.clock.now().timestamp())))
        elif msg_id == p.REQ_POSITIONS:
            self.send(p.position_end())
        elif msg_id == p.REQ_OPEN_ORDERS:
            self.send(p.open_order_end())
        elif msg_id == p.REQ_COMPLETED_ORDERS:
            self.send(p.completed_orders_end())
        elif msg_id == p.REQ_ACCOUNT_UPDATES:
            f.text()
            if f.bool():
                self.send(p.account_download_end(f.text() or account))
        elif msg_id == p.REQ_ACCOUNT_UPDATES_MULTI:
            f.text()
            self.send(p.account_update_multi_end(f.int()))
        elif msg_id == p.REQ_POSITIONS_MULTI:
            f.text()
            self.send(p.position_multi_end(f.int()))
        elif msg_id == p.REQ_EXECUTIONS:
            f.text()
            self.send(p.exec_details_end(f.int()))
        elif msg_id == p.REQ_ACCOUNT_SUMMARY:
            f.text()
            self.send(p.account_summary_end(f.int()))
        elif msg_id == p.REQ_IDS:
            self.send(p.next_valid_id(1))
        elif msg_id == p.REQ_MANAGED_ACCOUNTS:
            self.send(p.managed_accounts(",".join(self.server.config.accounts)))
        # Anything else (market data type, auto-bind, ...) needs no reply from this fake.

    def _start(
        self, req_id: int, kind: RequestKind, coro: Coroutine[object, object, None]
    ) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self.requests[req_id] = _Request(task, kind)
        task.add_done_callback(lambda t: self._done(req_id, kind, t))
        return task

    def _done(self, req_id: int, kind: RequestKind, task: asyncio.Task[None]) -> None:
        # A done callback runs even for a task cancelled before it started, unlike `finally`.
        if kind == "historical":
            self.server.gate.close()
        req = self.requests.get(req_id)
        if req is not None and req.task is task:
            self.requests.pop(req_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("fake TWS request %s failed", req_id, exc_info=task.exception())

    def _fault(self, kind: RequestKind, names: tuple[str, ...]) -> Fault | None:
        fault = self.server.faults.pick(kind, names)
        if fault is not None:
            self.server.stats.count("faults", fault.kind)
        return fault

    def _lookup(self, c: p.ContractFields, include_expired: bool) -> list[FutureSpec]:
        return resolve(c, self.today, include_expired)

    async def _contract_details(self, req_id: int, f: p.FieldCursor) -> None:
        c = f.contract()
        include_expired = f.bool()
        fault = self._fault("contract_details", _names(c))
        specs = self._lookup(c, include_expired)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "not_subscribed":
            self.send(p.error(req_id, 354, NOT_SUBSCRIBED_TEXT.format(what="")))
            return
        if not specs or (fault is not None and fault.kind == "unknown_contract"):
            self.send(p.error(req_id, 200, UNKNOWN_TEXT))
            return
        for spec in specs:
            self.send(contract_details(req_id, spec))
        self.send(p.contract_details_end(req_id))

    def _historical(self, f: p.FieldCursor, received: float) -> None:
        req_id = f.int()
        c = f.contract()
        include_expired = f.bool()
        end, bar_size, duration = f.text(), f.text(), f.text()
        use_rth, what, fmt = f.bool(), f.text(), f.int()
        keep_up_to_date = f.bool()
        identical = (c.identity, end, bar_size, duration, use_rth, what, fmt, keep_up_to_date)
        server = self.server
        rule = server.gate.admit(identical, (c.identity, what), at=received)
        if rule is not None:
            server.stats.count("pacing_violations", rule)
            self.send(p.error(req_id, 162, PACING_TEXT))
            return
        server.stats.peak_open(server.gate.open)
        reply = self._history_reply(req_id, c, include_expired, end, bar_size, duration, use_rth)
        self._start(req_id, "historical", reply)

    async def _history_reply(
        self,
        req_id: int,
        c: p.ContractFields,
        include_expired: bool,
        end_text: str,
        bar_size: str,
        duration_text: str,
        use_rth: bool,
    ) -> None:
        server = self.server
        fault = self._fault("historical", _names(c))
        kind = fault.kind if fault is not None else None
        specs = self._lookup(c, include_expired)
        if kind == "unknown_contract" or len(specs) != 1:
            self.send(p.error(req_id, 200, UNKNOWN_TEXT))
            return
        spec = specs[0]
        try:
            if bar_size not in BAR_SIZES or use_rth:
                raise BadRequest(f"the fake serves barSize '1 min' with useRTH 0, not {bar_size!r}")
            now = server.clock.now()
            end = parse_end(end_text, now)
            duration = parse_duration(duration_text)
        except BadRequest as e:
            self.send(p.error(req_id, 321, f"Error validating request.-'bW' : cause - {e}"))
            return
        what = f"{spec.local_symbol}@{spec.exchange} Trades"
        if kind == "not_subscribed":
            self.send(p.error(req_id, 354, NOT_SUBSCRIBED_TEXT.format(what=f" {what}")))
            return
        if kind == "no_data":
            self.send(p.error(req_id, 162, NO_DATA_TEXT.format(what=what)))
            return
        if kind == "pacing":
            self.send(p.error(req_id, 162, PACING_TEXT))
            return
        delay = server.config.reply_delay + (fault.seconds if kind == "slow" else 0.0)
        if delay:
            await asyncio.sleep(delay)
        if kind == "connectivity" and fault is not None:
            self.event(1100)
            await asyncio.sleep(fault.seconds)
            self.event(fault.restore)
            if fault.restore == 1101:
                return  # data lost: this request is never answered
        start_s, end_s, rows = await asyncio.get_running_loop().run_in_executor(
            server.executor,
            server.history.bars,
            spec.root,
            end,
            duration,
            server.clock.now(),
            instruments.Contract(spec.root, spec.year, spec.month),
        )
        if not rows:
            self.send(p.error(req_id, 162, NO_DATA_TEXT.format(what=what)))
            return
        message = p.historical_data(req_id, start_s, end_s, rows)
        if kind == "drop" and fault is not None:
            self.send(message[: max(1, int(len(message) * fault.fraction))])
            await self.writer.drain()
            self.abort()
            return
        self.send(message)
        server.stats.add("historical_bars", len(rows))

    async def _real_time_bars(self, req_id: int, f: p.FieldCursor) -> None:
        c = f.contract()
        bar_size, what = f.int(), f.text()
        fault = self._fault("realtime", _names(c))
        kind = fault.kind if fault is not None else None
        specs = self._lookup(c, include_expired=False)
        if kind == "unknown_contract" or len(specs) != 1:
            self.send(p.error(req_id, 200, UNKNOWN_TEXT))
            return
        if kind == "not_subscribed":
            self.send(p.error(req_id, 354, NOT_SUBSCRIBED_TEXT.format(what="")))
            return
        if bar_size != BAR_SECONDS or what not in WHAT_TO_SHOW:
            self.send(p.error(req_id, 321, "Error validating request: bar size must be 5"))
            return
        await self._stream(req_id, specs[0].root)

    async def _stream(self, req_id: int, root: str) -> None:
        """One 5-second bar each time the market clock passes a bar's end, until cancelled."""
        server = self.server
        clock = server.clock
        now = clock.now()
        slot = int(now.timestamp()) // BAR_SECONDS * BAR_SECONDS
        while not self.closed:
            ahead = slot + BAR_SECONDS - clock.now().timestamp()
            if ahead > 0:
                await asyncio.sleep(clock.wall_seconds(ahead))
                continue
            row = await asyncio.get_running_loop().run_in_executor(
                server.executor, server.realtime.bar, root, slot
            )
            if row is not None:
                self.send(p.real_time_bar(req_id, row))
                server.stats.add("realtime_bars")
            slot += BAR_SECONDS


def _names(c: p.ContractFields) -> tuple[str, ...]:
    """What a fault's `match` is compared with: symbol, local symbol, month or date, conId."""
    names = [c.symbol, c.local_symbol, c.last_trade_date_or_month, str(c.con_id or "")]
    return tuple(n for n in names if n)
