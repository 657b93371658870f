"""Fan-out of stream messages to WebSocket subscribers, safe to publish from any thread.

Each subscriber has a bounded queue on the API's event loop; a subscriber too slow to keep up
loses its oldest messages (counted, and reported to it before its next message), never stalls
the stream or the others.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from market_spine.streaming.messages import drop_message, status_message

QUEUE_SIZE = 10_000
#: The status event a subscriber gets last, when the server stops: its handler closes then.
STOPPING = "stopping"
_ids = itertools.count(1)


@dataclass(eq=False)
class Subscriber:
    """One WebSocket client: the symbols it wants, its queue of messages, and the messages it
    lost because it read too slowly (`dropped`; `reported` of them already told to it)."""

    symbols: frozenset[str]
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: int = 0
    reported: int = 0
    id: int = field(default_factory=lambda: next(_ids))
    since: datetime = field(default_factory=lambda: datetime.now(UTC))

    def wants(self, message: dict[str, Any]) -> bool:
        symbol = message.get("symbol")
        return symbol is None or symbol in self.symbols

    def drop_report(self, at: datetime) -> dict[str, Any] | None:
        """The `dropped` message owed to the client (drops since the last report), marking
        them reported; None when nothing was dropped since. Call on the subscriber's loop."""
        unreported = self.dropped - self.reported
        if unreported <= 0:
            return None
        self.reported = self.dropped
        return drop_message(unreported, self.dropped, at)

    def as_json(self) -> dict[str, Any]:
        """What `/v1/stream/status` shows of one subscriber."""
        return {
            "id": self.id,
            "symbols": sorted(self.symbols),
            "since": self.since.isoformat(),
            "queue_depth": self.queue.qsize(),
            "queue_size": self.queue.maxsize,
            "dropped": self.dropped,
            "dropped_unreported": self.dropped - self.reported,
        }


class BarHub:
    """Subscribers by loop; `publish` may be called from the streamer's threads. `queue_size`
    bounds each subscriber's backlog (messages)."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._subscribers: dict[Subscriber, asyncio.AbstractEventLoop] = {}
        self._dropped_by_departed = 0

    def subscribe(self, symbols: frozenset[str]) -> Subscriber:
        """Register a subscriber on the running loop (call from the WebSocket handler)."""
        subscriber = Subscriber(symbols, asyncio.Queue(self.queue_size))
        with self._lock:
            self._subscribers[subscriber] = asyncio.get_running_loop()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            if self._subscribers.pop(subscriber, None) is not None:
                self._dropped_by_departed += subscriber.dropped

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def current(self) -> list[Subscriber]:
        """The subscribers connected now, oldest first."""
        with self._lock:
            return sorted(self._subscribers, key=lambda s: s.id)

    @property
    def dropped_total(self) -> int:
        """Messages dropped for slow subscribers since the hub started, departed ones included
        (it only grows, as a Prometheus counter must)."""
        with self._lock:
            return self._dropped_by_departed + sum(s.dropped for s in self._subscribers)

    def summary(self) -> dict[str, Any]:
        """Subscribers, their queue depths and drops, and the totals, JSON-ready."""
        current = self.current()
        return {
            "subscribers": len(current),
            "queued": sum(s.queue.qsize() for s in current),
            "dropped_total": self.dropped_total,
            "queue_size": self.queue_size,
            "subscriptions": [s.as_json() for s in current],
        }

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
