"""The API's catalog watcher on a lake in an S3 bucket (a real S3-compatible server behind a
proxy that counts requests): idle, it costs about one request per poll however many tables the
lake holds, even when it rebuilds for the instance's news; a commit still shows in the listing
at the next poll."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from market_spine.catalog import listing
from market_spine.lake import Lake
from market_spine_tests.kit.frames import day_frame
from market_spine_tests.kit.s3 import RequestCounter, S3Server

DAY = date(2024, 1, 2)
#: A table the catalog lists (the watcher reports catalog entries only).
RAW = "raw/futures_bars_1m"
IDLE_S = 6.0


def _version(cache: listing.CatalogCache, name: str) -> int | None:
    found = cache.entry(name)
    return None if found is None else found["facts"].get("delta_version")


def test_an_idle_watcher_polls_the_bucket_once_per_poll(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RequestCounter(s3.endpoint) as counter:
        settings = s3.settings(
            tmp_path / "home", s3.bucket(), MARKET_SPINE_LAKE_ENDPOINT=counter.endpoint
        )
        lake: Lake = settings.lake()
        lake.append(RAW, day_frame(DAY, "CL", 1.0))
        for n in range(4):  # tables enough that listing each one's log would show
            lake.append(f"raw/idle_{n}", day_frame(DAY, "ES", float(n)))
        # Rebuild at every poll, as for news from the Dagster instance: the lake's facts must
        # not be read again for it.
        monkeypatch.setattr(listing, "MAX_AGE_S", 0.0)
        cache = listing.CatalogCache(settings)
        cache.refresh()
        cache.start()
        try:
            time.sleep(1.5)  # the thread's first round
            before = counter.total()
            time.sleep(IDLE_S)
            idle = counter.total() - before
            per_minute = idle / IDLE_S * 60
            print(f"idle watcher: {idle} requests in {IDLE_S:.0f} s ({per_minute:.0f}/min)")
            assert idle <= IDLE_S / listing.POLL_S + 2, counter.requests[before:]

            assert _version(cache, RAW) == 0
            lake.append(RAW, day_frame(DAY + timedelta(days=1), "CL", 2.0))
            deadline = time.monotonic() + 10
            while _version(cache, RAW) != 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _version(cache, RAW) == 1, "the watcher missed a commit"
        finally:
            cache.stop()
