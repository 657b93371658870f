"""`WS /v1/stream/bars?symbols=CL,ES`: real-time bars pushed as they arrive (schema in
`market_spine.streaming.messages`), and `GET /v1/stream/status`: the stream's counters and
measured freshness. Streaming runs inside the API process started by `market-spine stream`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect

from market_spine.errors import SpineError
from market_spine.markets.instruments import get_instrument
from market_spine.streaming.hub import STOPPING
from market_spine.streaming.messages import status_message

router = APIRouter(prefix="/v1/stream", tags=["stream"])
INTERVALS = ("all", "5s", "1m")
NOT_RUNNING = (
    "no real-time stream runs in this API process: start it with `market-spine stream` "
    "(it serves this same API with streaming on)"
)


def _symbols(raw: str) -> frozenset[str]:
    roots = [s.strip() for s in raw.split(",") if s.strip()]
    if not roots:
        raise SpineError("symbols is empty: pass e.g. symbols=CL,ES")
    return frozenset(get_instrument(s).root for s in roots)


@router.websocket("/bars")
async def stream_bars(websocket: WebSocket, symbols: str = "CL,ES,NG", interval: str = "all"):
    """Every 5-second bar as it arrives and every closed 1-minute bar once it is in the lake;
    `interval=5s` or `1m` keeps one kind. Status messages tell of disconnects and recoveries."""
    await websocket.accept()
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
    await websocket.send_json(
        status_message("subscribed", ",".join(sorted(wanted)), datetime.now(UTC))
    )
    try:
        while True:
            message = await subscriber.queue.get()
            if interval != "all" and message.get("interval") not in (None, interval):
                continue
            await websocket.send_json(message)
            if message.get("event") == STOPPING:
                await websocket.close(code=1001)  # going away
                break
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.unsubscribe(subscriber)


@router.get("/status", summary="Real-time stream counters and freshness")
def status(request: Request) -> dict[str, Any]:
    """Subscriptions, bars and minutes landed, disconnects, backfilled minutes, and freshness
    percentiles (seconds from a bar's close to the hub and to the lake)."""
    streamer = request.app.state.streamer
    if streamer is None:
        return {"running": False, "detail": NOT_RUNNING}
    return {
        "running": True,
        "subscribed": streamer.subscribed,
        "subscribers": request.app.state.hub.subscribers,
        **streamer.stats.summary(),
    }
