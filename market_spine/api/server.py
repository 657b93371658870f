"""How the API is served: uvicorn with its httptools parser, guarded against requests that never
finish their head (closed after `api_header_timeout_s`) and heads past `api_max_header_bytes`
(431), with a cap on request bodies (413) and a deadline on each chunk of a body being read
(408 after `api_body_timeout_s`). uvicorn's own keep-alive timer stops once any byte arrives,
and httptools caps no header size: a client could otherwise hold a connection and its memory
forever."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import uvicorn
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from market_spine.settings import Settings

log = logging.getLogger("market_spine.api")

#: Where a middleware leaves an outcome for the audit entry of a request that got no answer.
OUTCOME_STATE = "market_spine.outcome"
#: The audited outcome of a request whose client closed the connection before its body ended.
CLIENT_CLOSED = "client-closed"


def _raw_error(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message, "field": None}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size cap on every request head."""

    max_head_bytes = 16_384
    head_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._await_head()

    def _await_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            if self._head_bytes:
                message = (
                    f"the request head was not complete within {self.head_timeout_s:g} s: "
                    "send the whole request at once"
                )
                self.transport.write(_raw_error(408, "Request Timeout", message))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        was_in_head = self._in_head
        if was_in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes:
            message = (
                f"the request head is over {self.max_head_bytes} bytes: send fewer or "
                "smaller headers (MARKET_SPINE_API_MAX_HEADER_BYTES sets the cap)"
            )
            self.transport.write(_raw_error(431, "Request Header Fields Too Large", message))
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


def protocol_for(settings: Settings) -> type[GuardedHttpTools]:
    """The guarded protocol with the settings' head cap and deadline."""
    return type(
        "HomeHttpTools",
        (GuardedHttpTools,),
        {
            "max_head_bytes": settings.api_max_header_bytes,
            "head_timeout_s": float(settings.api_header_timeout_s),
        },
    )


def server_config(app: ASGIApp, settings: Settings, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration serving `app` under `settings`' limits; `options` are passed
    on (host, port, log_level ...)."""
    return uvicorn.Config(app, http=protocol_for(settings), **options)


class BodyLimit:
    """Refuses (413, the API's error shape) a request whose body is over `max_bytes`, by its
    Content-Length before reading, or as the bytes arrive when it has none."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"error": f"the request body is over {self.max_bytes} bytes", "field": None}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyDeadline:
    """Gives a client `timeout_s` for each chunk of a request body the app reads: past it, 408
    in the API's error shape and the connection closed. A client that closes the connection
    mid-body is one log line (no traceback) and the outcome `client-closed` for the audit."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = {"done": False, "bytes": 0}

        async def in_time() -> Message:
            if body["done"]:
                return await receive()  # after the body: a wait for the disconnect, unbounded
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"the request body stopped arriving: nothing came for {self.timeout_s:g} s "
                    f"after {body['bytes']} bytes; send the whole body at once "
                    "(MARKET_SPINE_API_BODY_TIMEOUT_S sets the deadline)",
                    headers={"connection": "close"},
                ) from None
            if message["type"] == "http.request":
                body["bytes"] += len(message.get("body", b""))
                body["done"] = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                scope.setdefault("state", {})[OUTCOME_STATE] = CLIENT_CLOSED
            return message

        with contextlib.suppress(ClientDisconnect):
            await self.app(scope, in_time, send)
        if (scope.get("state") or {}).get(OUTCOME_STATE) == CLIENT_CLOSED:
            client = scope.get("client") or ("?", 0)
            log.warning(
                "%s:%s closed the connection after %d bytes of the body of %s %s",
                client[0],
                client[1],
                body["bytes"],
                scope["method"],
                scope["path"],
            )
