"""One ib_async connection to TWS / IB Gateway, on a private event-loop thread, kept alive.

ib_async is asyncio-based; running it on its own loop thread lets synchronous callers (Dagster
assets, the CLI) and the streaming service share it without owning a loop. The connection
reconnects with exponential backoff (tenacity) when the socket drops, and tracks TWS's own
upstream link (1100 lost, 1101 restored with data lost, 1102 restored with data kept) so
in-flight requests can be retried instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

import ib_async
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from market_spine.errors import ProviderUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Listener of connection events: (event, detail). Events: "disconnected" (socket closed),
#: "reconnected" (socket back; subscriptions must be renewed), "upstream_lost" (1100),
#: "upstream_restored" (1102, data kept) and "upstream_restored_data_lost" (1101).
ConnectionListener = Callable[[str, str], None]


@dataclass(frozen=True)
class IBSettings:
    """Where TWS / IB Gateway listens and how patiently to talk to it."""

    host: str = "127.0.0.1"
    port: int = 4002  # Gateway paper; 4001 Gateway live, 7497 TWS paper, 7496 TWS live
    client_id: int = 1
    connect_timeout: float = 10.0
    request_timeout: float = 60.0
    #: How long a request waits for a (re)connection before ProviderUnavailable.
    unavailable_after: float = 60.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    readonly: bool = True


class ConnectionLost(Exception):
    """The socket closed, or TWS lost its upstream data (1101), while a request was in flight."""


class IBConnection:
    """An `ib_async.IB` on a background loop: `run()` from sync code, `ensure()` from async."""

    def __init__(self, settings: IBSettings | None = None) -> None:
        self.settings = settings or IBSettings()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ib", daemon=True)
        self._thread.start()
        self.ib = ib_async.IB()
        self.ib.RaiseRequestErrors = True  # a failed request must raise, not look like no data
        self.ib.disconnectedEvent += self._on_disconnected
        self.ib.errorEvent += self._on_error
        self.listeners: list[ConnectionListener] = []
        self._ready = asyncio.Event()
        self._upstream_ok = asyncio.Event()
        self._upstream_ok.set()
        self._lost: asyncio.Future[str] | None = None
        self._connector: asyncio.Task[None] | None = None
        self._closing = False
        self._last_error = ""
        self.connects = 0

    # -- sync bridge -------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the connection's loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call_soon(self, fn: Callable[[], object]) -> None:
        self.loop.call_soon_threadsafe(fn)

    def close(self) -> None:
        """Disconnect and stop the loop thread."""
        if self._closing:
            return
        self._closing = True

        async def shutdown() -> None:
            if self._connector is not None:
                self._connector.cancel()
            self.ib.disconnect()

        with contextlib.suppress(Exception):
            self.run(shutdown(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)

    # -- connection --------------------------------------------------------------------------

    @property
    def lost(self) -> asyncio.Future[str]:
        """Resolves when the current connection can no longer answer in-flight requests."""
        if self._lost is None or self._lost.done():
            self._lost = self.loop.create_future()
        return self._lost

    def _signal_lost(self, reason: str) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)
        self._lost = None

    async def ensure(self) -> ib_async.IB:
        """The connected IB, (re)connecting with backoff; ProviderUnavailable after a while."""
        s = self.settings
        if not self.ib.isConnected():
            self._start_connector()
        try:
            await asyncio.wait_for(self._ready.wait(), s.unavailable_after)
            await asyncio.wait_for(self._upstream_ok.wait(), s.unavailable_after)
        except TimeoutError:
            if not self._ready.is_set():
                raise ProviderUnavailable(
                    f"cannot connect to TWS / IB Gateway at {s.host}:{s.port} (client id "
                    f"{s.client_id}) within {s.unavailable_after:.0f} s: {self._last_error}. "
                    "Start TWS or IB Gateway, enable API socket clients (Configure > API > "
                    "Settings), check the port (Gateway 4002 paper / 4001 live, TWS 7497 / 7496) "
                    "and that no other program uses this client id"
                ) from None
            raise ProviderUnavailable(
                f"TWS at {s.host}:{s.port} lost its connection to IB's servers (error 1100) and "
                f"has not restored it within {s.unavailable_after:.0f} s: check TWS / IB "
                "Gateway's status bar and its internet connection, then retry"
            ) from None
        return self.ib

    def _start_connector(self) -> None:
        if self._closing or (self._connector is not None and not self._connector.done()):
            return
        self._connector = self.loop.create_task(self._connect_with_backoff())

    async def _connect_with_backoff(self) -> None:
        s = self.settings
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((OSError, TimeoutError, ConnectionError)),
            wait=wait_exponential(multiplier=s.reconnect_initial, max=s.reconnect_max),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    await self.ib.connectAsync(
                        s.host,
                        s.port,
                        clientId=s.client_id,
                        timeout=s.connect_timeout,
                        readonly=s.readonly,
                    )
                except (OSError, TimeoutError, ConnectionError) as e:
                    self._last_error = f"{type(e).__name__}: {e}"
                    log.warning("IB connect to %s:%s failed: %s", s.host, s.port, e)
                    raise
        first = self.connects == 0
        self.connects += 1
        self._upstream_ok.set()
        self._ready.set()
        if not first:
            self._notify("reconnected", f"{s.host}:{s.port}")

    def _on_disconnected(self) -> None:
        self._ready.clear()
        self._signal_lost("socket disconnected")
        if self._closing:
            return
        self._notify("disconnected", "TWS closed the socket")
        self._start_connector()

    def _on_error(self, req_id: int, code: int, message: str, contract: object) -> None:
        if req_id != -1 or code not in (1100, 1101, 1102):
            return
        if code == 1100:
            self._upstream_ok.clear()
            self._notify("upstream_lost", message)
        elif code == 1101:
            self._upstream_ok.set()
            self._signal_lost("upstream restored, data lost (1101)")
            self._notify("upstream_restored_data_lost", message)
        else:
            self._upstream_ok.set()
            self._notify("upstream_restored", message)

    def _notify(self, event: str, detail: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(event, detail)
            except Exception:
                log.exception("IB connection listener failed on %s", event)

    async def race(self, awaitable: asyncio.Future[T] | Coroutine[Any, Any, T], what: str) -> T:
        """Await `awaitable` unless the connection is lost or `request_timeout` passes first."""
        task = asyncio.ensure_future(awaitable)
        lost = self.lost
        done, _ = await asyncio.wait(
            {task, lost}, timeout=self.settings.request_timeout, return_when="FIRST_COMPLETED"
        )
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if lost in done:
            raise ConnectionLost(f"{what}: {lost.result()}")
        raise TimeoutError(f"{what}: no answer within {self.settings.request_timeout:g} s")


class IBClient:
    """Talks to TWS over an `IBConnection` that it opens from `settings` and owns, or that the
    caller passes and keeps (several clients may share one socket); a context manager that
    closes only what it owns. `clock` gives now (UTC) for trade dates and closed minutes."""

    def __init__(
        self,
        settings: IBSettings,
        connection: IBConnection | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.connection = connection or IBConnection(settings)
        self._owns_connection = connection is None
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    def close(self) -> None:
        """Close the connection if this client opened it."""
        if self._owns_connection:
            self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
