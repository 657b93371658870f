"""The per-identity token bucket and WebSocket subscriber count."""

from __future__ import annotations

from market_spine.security.limits import RateLimiter, SubscriberCount, retry_after


def test_a_burst_passes_then_requests_wait_for_the_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=4)
    assert [limiter.take("a", now=0.0) for _ in range(4)] == [0.0] * 4
    wait = limiter.take("a", now=0.0)
    assert wait == 0.5 and retry_after(wait) == "1"
    assert limiter.take("b", now=0.0) == 0.0  # each actor has its own bucket
    assert limiter.take("a", now=0.5) == 0.0  # half a second refills one request
    assert limiter.take("a", now=0.5) > 0


def test_subscribers_are_capped_per_actor() -> None:
    count = SubscriberCount(cap=2)
    assert count.enter("a") and count.enter("a") and not count.enter("a")
    assert count.enter("b")
    count.leave("a")
    assert count.enter("a")
