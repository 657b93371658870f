"""Fan-out of stream messages to WebSocket subscribers, safe to publish from any thread.

Each subscriber has a bounded queue on the API's event loop; a subscriber too slow to keep up
loses its oldest messages (counted and reported to it), never stalls the stream or the others.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from market_spine.streaming.messages import status_message

QUEUE_SIZE = 10_000
#: The status event a subscriber gets last, when the server stops: its handler closes then.
STOPPING = "stopping"


@dataclass(eq=False)
class Subscriber:
    """One WebSocket client: the symbols it wants and its queue of messages."""

    symbols: frozenset[str]
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: int = 0

    def wants(self, message: dict[str, Any]) -> bool:
        symbol = message.get("symbol")
        return symbol is None or symbol in self.symbols


class BarHub:
    """Subscribers by loop; `publish` may be called from the streamer's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[Subscriber, asyncio.AbstractEventLoop] = {}

    def subscribe(self, symbols: frozenset[str]) -> Subscriber:
        """Register a subscriber on the running loop (call from the WebSocket handler)."""
        subscriber = Subscriber(symbols)
        with self._lock:
            self._subscribers[subscriber] = asyncio.get_running_loop()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.pop(subscriber, None)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, messages: list[dict[str, Any]]) -> None:
        """Queue messages for every interested subscriber, from any thread."""
        with self._lock:
            targets = list(self._subscribers.items())
        for subscriber, loop in targets:
            wanted = [m for m in messages if subscriber.wants(m)]
            if wanted and not loop.is_closed():
                loop.call_soon_threadsafe(_offer, subscriber, wanted)

    def close(self) -> None:
        """Tell every subscriber the server is stopping, so each handler sends that and ends
        (an open WebSocket would otherwise hold the server's shutdown), from any thread."""
        self.publish([status_message(STOPPING, "the server is stopping", datetime.now(UTC))])


def _offer(subscriber: Subscriber, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        if subscriber.queue.full():
            subscriber.queue.get_nowait()
            subscriber.dropped += 1
        subscriber.queue.put_nowait(message)
