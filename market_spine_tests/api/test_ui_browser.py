"""The browser pages in headless Chromium against a home processed for real: CL on a closed
session with spikes and gaps (failed: its capture lost minutes; with anomalies) and CL on a
live session (preliminary), the live page fed by the fake TWS streaming through the API's
WebSocket. Screenshots are kept (see `kit.browser.artifacts`)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import Browser, Page

from market_spine.api.app import create_app
from market_spine.fakes.tws import FakeTWS, FakeTWSConfig
from market_spine.lake import Lake
from market_spine.providers.ib_connection import IBSettings
from market_spine.providers.ib_pacing import PacingRules
from market_spine.streaming.service import StreamConfig, Streamer
from market_spine_tests.kit.api import credential, serving_app
from market_spine_tests.kit.browser import artifacts, chromium
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import futures_day

CLOSED, LIVE = date(2024, 3, 4), date(2024, 3, 5)
#: The live session was captured at 15:30 UTC; the fake TWS streams on from there.
STREAM_START = datetime(2024, 3, 5, 15, 30, tzinfo=UTC)
#: Candles of CL's live session in the lake before streaming (23:00 to 15:29 UTC).
LIVE_MINUTES = 990


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("ui") / "home"
    settings = settings_for(home)
    with dg.instance_for_test() as instance:
        futures_day(settings, instance, CLOSED, "2024-03-05T12:00:00Z", ["spikes", "gaps"])
        futures_day(settings, instance, LIVE, "2024-03-05T15:30:00Z")
    return home


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def _candles(page: Page) -> int:
    return int(page.get_attribute("#chart", "data-candles") or 0)


def until(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Poll `check` from Python (the pages' policy forbids the evaluated strings Playwright's
    `wait_for_function` would inject) until it holds, failing with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _wait_for_candles(page: Page, above: int, timeout_s: float = 20.0) -> None:
    until(lambda: _candles(page) > above, f"more than {above} candles", timeout_s)


@pytest.mark.timeout(180)
def test_live_candles_grow_with_the_stream_and_the_picker_switches(
    processed: Path, tmp_path: Path, page: Page
) -> None:
    home = tmp_path / "home"
    shutil.copytree(processed, home)  # the stream lands into this copy only
    app = create_app(settings_for(home))
    with FakeTWS.running(FakeTWSConfig(start=STREAM_START, speed=10)) as tws:
        config = StreamConfig(
            ("CL", "ES"),
            IBSettings(tws.host, tws.port, client_id=31),
            flush_seconds=0.2,
            pacing=PacingRules().scaled(0.01),
        )
        streamer = Streamer(
            Lake(home / "lake"), config, hub=app.state.hub, clock=tws.server.clock.now
        )
        app.state.streamer = streamer
        with serving_app(app) as client:
            key = credential(app, "reader")
            page.goto(f"{client.base_url}/ui/live#key={key}")
            # The key left the address bar at once.
            assert "key=" not in page.url
            _wait_for_candles(page, LIVE_MINUTES - 1)
            assert page.text_content("#day") == "trade date 2024-03-05"
            assert page.locator("#day-state .badge").text_content() == "PRELIMINARY"
            history_last = int(page.get_attribute("#chart", "data-last-time") or 0)
            assert history_last == int(datetime(2024, 3, 5, 15, 29, tzinfo=UTC).timestamp())
            until(lambda: "subscribed" in (page.text_content("#live-state") or ""), "the socket")
            assert streamer.start() == {"CL": "CLJ4", "ES": "ESH4"}
            try:
                # Live bars extend the lake's minutes: the forming 15:30 candle, then more.
                _wait_for_candles(page, LIVE_MINUTES + 1)
                assert int(page.get_attribute("#chart", "data-last-time") or 0) > history_last
                assert page.locator("#tape tbody tr").count() > 0
                # A closed minute arrives as a 1m bar and replaces the candle the 5s bars formed.
                minutes = page.locator("#tape tbody tr[data-interval='1m']")
                until(lambda: minutes.count() > 0, "a closed minute", 30)
                row = page.locator("#freshness tr[data-symbol='CL']")
                assert "2024-03-05" in row.text_content() and "ago" in row.text_content()
                page.screenshot(path=artifacts(tmp_path) / "live-CL.png")

                # ES had no minutes in the lake: it draws what the stream brought, nothing older.
                page.select_option("#symbol", "ES")
                assert "symbol=ES" in page.url
                _wait_for_candles(page, 0)
                first = int(page.get_attribute("#chart", "data-first-time") or 0)
                assert first >= int(STREAM_START.timestamp())

                # The continuous front series: the lake's series, then the live front contract.
                page.select_option("#symbol", "CL.c.0")
                _wait_for_candles(page, LIVE_MINUTES)
                page.screenshot(path=artifacts(tmp_path) / "live-CL.c.0.png")
            finally:
                streamer.stop()


def test_a_past_day_shows_its_anomalies_on_the_chart(processed: Path, page: Page) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        key = credential(app, "reader")
        page.goto(f"{client.base_url}/ui/live#key={key}&symbol=CL&day=2024-03-04")
        _wait_for_candles(page, 0)
        assert page.text_content("#day") == "trade date 2024-03-04"
        assert page.locator("#day-state .badge").text_content() == "FAILED"
        flagged = client.get(
            "/v1/bars", params={"symbol": "CL", "start": "2024-03-04", "flags": "true"}
        )
        kinds = [row["flag_kinds"] for row in flagged.json()["data"] if row["flag_kinds"]]
        assert kinds
        until(lambda: page.text_content("#anomaly-count") == str(len(kinds)), "the anomalies")
        assert page.locator("#anomalies tbody tr").count() == len(kinds)
        assert kinds[0][0] in (page.text_content("#anomalies tbody") or "")
        # Without a stream the page says how to start one.
        assert "market-spine stream" in (page.text_content("#live-state") or "")
        # The day picker goes back to the newest day, which has none.
        page.fill("#day-input", "2024-03-05")
        until(lambda: page.text_content("#day") == "trade date 2024-03-05", "the newest day")
        until(lambda: page.text_content("#anomaly-count") == "0", "no anomalies")
        assert _candles(page) == LIVE_MINUTES


def test_a_bad_key_or_a_narrow_one_shows_why(processed: Path, tmp_path: Path, page: Page) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        page.goto(f"{client.base_url}/ui/live#key=msk_0123456789abcdef_wrong")
        error = page.locator("#error")
        error.wait_for(state="visible")
        assert error.get_attribute("data-status") == "401"
        assert "No valid API key" in error.text_content()
        assert _candles(page) == 0
        page.screenshot(path=artifacts(tmp_path) / "live-bad-key.png")

        # A key for another dataset: readiness (metadata) answers, the bars are refused.
        narrow = credential(app, "reader", ("normalized/futures_rolls",))
        page.fill("#key-input", narrow)
        page.click("#key-form button[type=submit]")
        refused = "may not read normalized/futures_bars_1m"
        until(lambda: refused in (error.text_content() or ""), "the bars' 403")

        # A good key clears the message and draws.
        page.fill("#key-input", credential(app, "reader"))
        page.click("#key-form button[type=submit]")
        _wait_for_candles(page, LIVE_MINUTES - 1)
        assert error.is_hidden()


def test_the_readiness_page_marks_preliminary_days_and_opens_anomalies(
    processed: Path, tmp_path: Path, page: Page
) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        key = credential(app, "reader")
        page.goto(f"{client.base_url}/ui/readiness#key={key}")
        page.locator("article.tile").first.wait_for()
        # The minute bars' section: the derived datasets have tiles of their own.
        minutes = page.locator("section[data-dataset='normalized/futures_bars_1m']")
        tiles = minutes.locator("article.tile")
        assert tiles.count() == 2
        live = minutes.locator("article.tile[data-trade-date='2024-03-05']")
        closed = minutes.locator("article.tile[data-trade-date='2024-03-04']")
        assert live.locator(".badge").text_content() == "PRELIMINARY"
        assert live.get_attribute("data-state") == "preliminary"
        assert closed.locator(".badge").text_content() == "FAILED"
        assert closed.get_attribute("data-state") == "failed"
        assert "990 / 990 minutes" in live.text_content()
        assert "missing" in closed.text_content()
        capture = closed.locator(".capture").text_content() or ""
        assert len(capture) == 26  # a ULID capture id
        preliminary = page.locator("article.tile[data-state='preliminary']").count()
        assert preliminary >= 1
        assert f"{preliminary} PRELIMINARY" in (page.text_content("#summary") or "")
        page.screenshot(path=artifacts(tmp_path) / "readiness.png", full_page=True)

        # The anomaly count opens the flagged minutes: as many as the tile counts.
        count = int(closed.get_attribute("data-anomalies") or 0)
        assert count > 0
        closed.locator("button.anomalies").click()
        page.locator("#flags").wait_for(state="visible")
        assert page.locator("#flags tbody tr").count() == count

        # Filters narrow the tiles and stay in the address.
        page.fill("#f-start", "2024-03-05")
        page.click("#filters button[type=submit]")
        until(lambda: tiles.count() == 1, "one tile")
        assert "start=2024-03-05" in page.url
        page.fill("#f-symbol", "XX")
        page.click("#filters button[type=submit]")
        page.locator("#error").wait_for(state="visible")
        assert "XX" in (page.text_content("#error") or "")
