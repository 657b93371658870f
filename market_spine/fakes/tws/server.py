"""The fake TWS server: an asyncio TCP listener, its shared state, and ways to run it.

`await FakeTWS(config).start()` inside an event loop; `with FakeTWS.running(config) as tws:`
from synchronous tests (the server runs in a background thread's loop, `tws.port` is the bound
port); `run_forever(host, port, config)` for the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, TypeVar

from market_spine.fakes.tws.config import FakeTWSConfig
from market_spine.fakes.tws.faults import FaultScript
from market_spine.fakes.tws.history import HistorySource
from market_spine.fakes.tws.pacing import PacingGate, PacingLimits
from market_spine.fakes.tws.realtime import MarketClock, RealtimeSource
from market_spine.fakes.tws.session import ClientSession
from market_spine.fakes.tws.stats import Stats
from market_spine.markets import instruments

T = TypeVar("T")
_UNPACED = PacingLimits(
    identical_s=0.0, contract_window_s=0.0, window_s=0.0, window_max=10**9, max_open=10**9
)


class FakeTWS:
    """A TWS / IB Gateway stand-in that `ib_async.IB().connect(host, port)` accepts unchanged."""

    def __init__(
        self, config: FakeTWSConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or FakeTWSConfig()
        self.host = host
        self.port = port
        self.clock = MarketClock(self.config.start, self.config.speed)
        self.history = HistorySource(self.config.seed)
        self.realtime = RealtimeSource(self.history, self.config.seed)
        limits = self.config.pacing if self.config.enforce_pacing else _UNPACED
        self.gate = PacingGate(limits)
        self.faults = FaultScript(self.config.faults)
        self.stats = Stats()
        self.sessions: set[ClientSession] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # One simulation at a time: more worker threads would starve the loop of the GIL and
        # delay the arrival stamps the pacing rules are judged on.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fake-tws-sim")

    def warm(self, items: Iterable[tuple[str, date]]) -> None:
        """Simulate these (symbol, trade date) sessions now, so serving them later is cheap."""
        for symbol, day in items:
            self.history.session_rows(instruments.get_instrument(symbol).root, day)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start accepting; `port` is the bound port afterwards (port 0 = any free)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting, drop every connection and wait for their handlers to end."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.abort()
        # Aborted sockets end their handlers; cancelling them instead makes asyncio log noise.
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=2.0)
            for task in pending:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = ClientSession(self, reader, writer)
        self.sessions.add(session)
        self.stats.add("connections")
        self.stats.add("active_connections")
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            self.stats.add("active_connections", -1)
            if task is not None:
                self._tasks.discard(task)

    def client_ids(self) -> set[int]:
        """Client ids of the connections that completed START_API."""
        return {s.client_id for s in self.sessions if s.client_id is not None}

    # -- control from tests ------------------------------------------------------------------

    async def drop_connections(self) -> int:
        """Close every client socket at once (a TWS restart); returns how many were closed."""
        dropped = list(self.sessions)
        for session in dropped:
            session.abort()
        return len(dropped)

    async def send_event(self, code: int, text: str | None = None) -> None:
        """Send an unsolicited notice (1100, 1101, 1102, ...) to every connection."""
        for session in list(self.sessions):
            session.event(code, text)

    def snapshot(self) -> dict[str, Any]:
        """The counters (see `Stats.snapshot`) plus the open historical requests now."""
        return {**self.stats.snapshot(), "open_historical": self.gate.open}

    # -- running -----------------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def running(
        cls, config: FakeTWSConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> Iterator[FakeTWSThread]:
        """The fake served from a background thread for the duration of the `with` block."""
        runner = FakeTWSThread(cls(config, host, port))
        runner.start()
        try:
            yield runner
        finally:
            runner.stop()


class FakeTWSThread:
    """A FakeTWS on its own event loop in a daemon thread, with a synchronous control API."""

    def __init__(self, server: FakeTWS) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-tws", daemon=True)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def host(self) -> str:
        return self.server.host

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run `coro` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self._thread.start()
        self.call(self.server.start())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def stats(self) -> dict[str, Any]:
        """The server's counters (thread-safe)."""
        return self.server.snapshot()

    def drop_connections(self) -> int:
        return self.call(self.server.drop_connections())

    def send_event(self, code: int, text: str | None = None) -> None:
        self.call(self.server.send_event(code, text))


def run_forever(
    host: str = "127.0.0.1", port: int = 4002, config: FakeTWSConfig | None = None
) -> None:
    """Serve until SIGINT (Ctrl-C) or SIGTERM, printing where clients should connect. Both
    signals are handled explicitly: a shell starts background jobs with SIGINT ignored."""

    async def main() -> None:
        server = FakeTWS(config, host, port)
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"fake TWS listening on {server.host}:{server.port} (Ctrl-C to stop)", flush=True)
        try:
            await stop.wait()
        finally:
            await server.stop()
            server.executor.shutdown(wait=False, cancel_futures=True)
        print("fake TWS stopped", flush=True)

    asyncio.run(main())
