"""`WS /v1/stream/bars?symbols=CL,ES`: real-time bars pushed as they arrive (schema in
`market_spine.streaming.messages`), and `GET /v1/stream/status`: the stream's counters,
measured freshness and subscribers (queue depth and dropped messages of each). Streaming runs
inside the API process started by `market-spine stream`."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect

from market_spine.api import access
from market_spine.errors import SpineError
from market_spine.markets.instruments import get_instrument
from market_spine.streaming.hub import STOPPING, Subscriber
from market_spine.streaming.messages import status_message

router = APIRouter(prefix="/v1/stream", tags=["stream"])
#: The WebSocket route, apart: it authenticates itself (`access.admit_websocket`), since the
#: HTTP guard reads a header a browser's WebSocket cannot send.
sockets = APIRouter(prefix="/v1/stream", tags=["stream"])
INTERVALS = ("all", "5s", "1m")
NOT_RUNNING = (
    "no real-time stream runs in this API process: start it with `market-spine stream` "
    "(it serves this same API with streaming on; beside `market-spine up`, give it a port of "
    "its own, `--port 8001`, and open its /ui/live)"
)


def _symbols(raw: str) -> frozenset[str]:
    roots = [s.strip() for s in raw.split(",") if s.strip()]
    if not roots:
        raise SpineError("symbols is empty: pass e.g. symbols=CL,ES")
    return frozenset(get_instrument(s).root for s in roots)


@sockets.websocket("/bars")
async def stream_bars(websocket: WebSocket, symbols: str = "CL,ES,NG", interval: str = "all"):
    """Every 5-second bar as it arrives and every closed 1-minute bar once it is in the lake;
    `interval=5s` or `1m` keeps one kind. Status messages tell of disconnects and recoveries; a
    `dropped` message, of messages lost because this client read too slowly.

    Authenticated by the subprotocol `bearer.<token>` or `?token=` (browsers cannot set
    headers); refusals close with 4401, 4403 or 4429 after an error message."""
    identity = await access.admit_websocket(websocket, "/v1/stream/bars")
    if identity is None:
        return
    try:
        await _serve(websocket, symbols, interval)
    finally:
        access.release(websocket, identity)


async def _serve(websocket: WebSocket, symbols: str, interval: str) -> None:
    try:
        wanted = _symbols(symbols)
        if interval not in INTERVALS:
            raise SpineError(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")
    except SpineError as exc:
        field = "interval" if "interval" in str(exc) else "symbols"
        await websocket.send_json({"type": "error", "error": str(exc), "field": field})
        await websocket.close(code=1008)
        return
    if websocket.app.state.streamer is None:
        await websocket.send_json({"type": "error", "error": NOT_RUNNING, "field": None})
        await websocket.close(code=1013)
        return
    hub = websocket.app.state.hub
    subscriber = hub.subscribe(wanted)
    try:
        await websocket.send_json(
            status_message("subscribed", ",".join(sorted(wanted)), datetime.now(UTC))
        )
        # The client sends nothing; watching its side is how a close is noticed while no
        # message flows (a handler waiting on the queue alone would stay subscribed until the
        # next one). A task group rather than bare tasks: the server's own cancellation then
        # ends the handler as a cancelled scope, at whatever step it lands.
        async with anyio.create_task_group() as group:

            async def until_either_ends(work: Awaitable[None]) -> None:
                await work
                group.cancel_scope.cancel()

            group.start_soon(until_either_ends, _pump(websocket, subscriber, interval))
            group.start_soon(until_either_ends, _until_disconnect(websocket))
    finally:
        hub.unsubscribe(subscriber)


async def _pump(websocket: WebSocket, subscriber: Subscriber, interval: str) -> None:
    """Send the subscriber's messages, each after the report of any dropped before it, until
    the server stops or the client goes."""
    try:
        while True:
            message = await subscriber.queue.get()
            report = subscriber.drop_report(datetime.now(UTC))
            if report is not None:
                await websocket.send_json(report)
            if interval != "all" and message.get("interval") not in (None, interval):
                continue
            await websocket.send_json(message)
            if message.get("event") == STOPPING:
                await websocket.close(code=1001)  # going away
                return
    except (WebSocketDisconnect, RuntimeError):
        return


async def _until_disconnect(websocket: WebSocket) -> None:
    """Return when the client closes (what it sends otherwise is ignored)."""
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    except (WebSocketDisconnect, RuntimeError):
        return


@router.get("/status", summary="Real-time stream counters, freshness and subscribers")
def status(request: Request) -> dict[str, Any]:
    """Subscriptions, bars and minutes landed, disconnects, backfilled minutes, freshness
    percentiles (seconds from a bar's close to the hub and to the lake), and the WebSocket
    subscribers: how many, each one's queue depth and dropped messages, and the totals."""
    streamer = request.app.state.streamer
    hub = request.app.state.hub.summary()
    if streamer is None:
        return {"running": False, "detail": NOT_RUNNING, **hub}
    return {"running": True, "subscribed": streamer.subscribed, **hub, **streamer.stats.summary()}
