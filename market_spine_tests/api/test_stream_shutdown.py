"""A WebSocket handler cancelled by its server at any step of a client's departure ends as a
cancelled scope, never with a stray `CancelledError` (which a server logs as an error and a
test client raises)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from market_spine.api.access import Access
from market_spine.api.routes_stream import stream_bars
from market_spine.security.limits import RateLimiter, SubscriberCount
from market_spine.settings import Settings
from market_spine.streaming.hub import BarHub


class _LeavingClient:
    """A WebSocket whose client says goodbye as soon as it is read."""

    def __init__(self, hub: BarHub) -> None:
        settings = Settings(home=Path("unused"), auth="off")
        access = Access(settings, None, RateLimiter(1, 1), SubscriberCount(1))
        self.app = SimpleNamespace(state=SimpleNamespace(hub=hub, streamer=object(), access=access))
        self.scope: dict[str, Any] = {"subprotocols": []}
        self.headers: dict[str, str] = {}
        self.query_params: dict[str, str] = {}
        self.state = SimpleNamespace()
        self.sent: list[dict[str, Any]] = []

    async def accept(self, subprotocol: str | None = None) -> None:
        return None

    async def send_json(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def receive(self) -> dict[str, Any]:
        return {"type": "websocket.disconnect", "code": 1000}

    async def close(self, code: int = 1000) -> None:
        return None


async def _cancelled_after(steps: int) -> tuple[bool, int]:
    """Run the handler for a departing client under a cancel scope cancelled after `steps`
    turns of the loop; returns whether the scope caught it and the subscribers left."""
    hub = BarHub()
    with anyio.CancelScope() as scope:

        async def cancel_later() -> None:
            for _ in range(steps):
                await asyncio.sleep(0)
            scope.cancel()

        canceller = asyncio.get_running_loop().create_task(cancel_later())
        await stream_bars(_LeavingClient(hub), symbols="CL")  # type: ignore[arg-type]
        await anyio.sleep_forever()
    await canceller
    return scope.cancelled_caught, hub.subscribers


@pytest.mark.parametrize("steps", range(12))
def test_a_cancel_at_any_step_of_a_departure_is_the_scopes_own(steps: int) -> None:
    caught, subscribers = anyio.run(_cancelled_after, steps)
    assert caught
    assert subscribers == 0
