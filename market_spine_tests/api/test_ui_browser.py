"""The browser pages in headless Chromium against a home processed for real: CL on a closed
session with spikes and gaps (failed: its capture lost minutes; with anomalies), CL on a live
session (preliminary) and a day of the company `orders` dataset, the live page fed by the fake
TWS streaming through the API's WebSocket. Screenshots are kept (see `kit.browser.artifacts`)."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import httpx
import pytest
from playwright.sync_api import Browser, Page, Route

from market_spine.api.app import create_app
from market_spine.client import readiness_datasets
from market_spine.fakes.tws import FakeTWS, FakeTWSConfig
from market_spine.lake import Lake
from market_spine.providers.ib_connection import IBSettings
from market_spine.providers.ib_pacing import PacingRules
from market_spine.streaming.service import StreamConfig, Streamer
from market_spine_tests.kit.api import credential, serving_app
from market_spine_tests.kit.browser import artifacts, chromium
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import company_orders_day, futures_day

CLOSED, LIVE = date(2024, 3, 4), date(2024, 3, 5)
#: The live session was captured at 15:30 UTC; the fake TWS streams on from there.
STREAM_START = datetime(2024, 3, 5, 15, 30, tzinfo=UTC)
#: Candles of CL's live session in the lake before streaming (23:00 to 15:29 UTC).
LIVE_MINUTES = 990
#: The company `orders` day the home holds (certified, judged whole: no symbol).
COMPANY_DAY = "2026-11-25"
COMPANY = "normalized/company_orders"
#: The live session's lag before streaming: its capture (15:30 UTC) to its end (22:00 UTC).
LIVE_LAG_S = 6.5 * 3600


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("ui") / "home"
    settings = settings_for(home)
    with dg.instance_for_test() as instance:
        futures_day(settings, instance, CLOSED, "2024-03-05T12:00:00Z", ["spikes", "gaps"])
        futures_day(settings, instance, LIVE, "2024-03-05T15:30:00Z")
        company_orders_day(settings, instance, COMPANY_DAY)
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


def _address(page: Page) -> str:
    """The page's URL as it is now: a call into the page first lets Playwright take in the
    page's own changes of its address (history.replaceState)."""
    page.locator("body").count()
    return page.url


def _wait_for_candles(page: Page, above: int, timeout_s: float = 20.0) -> None:
    until(lambda: _candles(page) > above, f"more than {above} candles", timeout_s)


def _first(page: Page) -> int:
    return int(page.get_attribute("#chart", "data-first-time") or 0)


def _seamless(page: Page, streamed: int) -> bool:
    """The chart holds a candle for every minute from its first to its last, and the last is
    at least `streamed` minutes past STREAM_START (read until a live bar does not land
    between two reads)."""
    while True:
        seen = (_candles(page), int(page.get_attribute("#chart", "data-last-time") or 0))
        if seen == (_candles(page), int(page.get_attribute("#chart", "data-last-time") or 0)):
            break
    candles, last = seen
    reached = last >= int(STREAM_START.timestamp()) + 60 * streamed
    return reached and candles == (last - _first(page)) // 60 + 1


def _landed(streamer: Streamer) -> int:
    """Minutes the stream has landed in the lake so far."""
    return streamer.stats.minutes


def _lag(page: Page, symbol: str) -> float | None:
    """The freshness lag (s) the page shows for `symbol`; None when it shows none."""
    cell = page.locator(f"#freshness td.lag[data-symbol='{symbol}']")
    found = cell.get_attribute("data-lag-s") if cell.count() else None
    return float(found) if found else None


@contextmanager
def streaming(
    processed: Path, tmp_path: Path, speed: float = 10
) -> Iterator[tuple[httpx.Client, str, Streamer]]:
    """The API over a copy of the processed home (the stream lands into it) with a streamer
    from a fake TWS whose market clock starts at STREAM_START; the test starts the streamer."""
    home = tmp_path / "home"
    shutil.copytree(processed, home)
    app = create_app(settings_for(home))
    with FakeTWS.running(FakeTWSConfig(start=STREAM_START, speed=speed)) as tws:
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
            yield client, credential(app, "reader"), streamer


@pytest.mark.timeout(180)
def test_live_candles_grow_with_the_stream_and_the_picker_switches(
    processed: Path, tmp_path: Path, page: Page
) -> None:
    with streaming(processed, tmp_path) as (client, key, streamer):
        page.goto(f"{client.base_url}/ui/live#key={key}")
        # The key left the address bar at once.
        assert "key=" not in page.url
        _wait_for_candles(page, LIVE_MINUTES - 1)
        assert page.text_content("#day") == "trade date 2024-03-05"
        assert page.locator("#day-state .badge").text_content() == "PRELIMINARY"
        # A session still going opens on its last hours, where the live bars land.
        assert page.get_attribute("#chart", "data-view") == "last-hours"
        history_last = int(page.get_attribute("#chart", "data-last-time") or 0)
        assert history_last == int(datetime(2024, 3, 5, 15, 29, tzinfo=UTC).timestamp())
        # Freshness before the stream: the capture at 15:30 against the session's end.
        until(lambda: _lag(page, "CL") == LIVE_LAG_S, "CL's lag from readiness")
        assert _lag(page, "ES") is None
        until(lambda: "subscribed" in (page.text_content("#live-state") or ""), "the socket")
        assert streamer.start() == {"CL": "CLJ4", "ES": "ESH4"}
        stopped = False
        try:
            # The first 5-second bar of 15:30 draws the forming candle before the minute closes.
            fives = page.locator("#tape tbody tr[data-interval='5s']")
            minutes = page.locator("#tape tbody tr[data-interval='1m']")
            until(lambda: fives.count() > 0, "a 5-second bar")
            assert minutes.count() == 0
            assert _candles(page) == LIVE_MINUTES + 1
            assert int(page.get_attribute("#chart", "data-last-time") or 0) == history_last + 60
            assert "(forming)" in (page.text_content("#last-candle") or "")
            # Each bar moves the lag: the data now reaches past the capture.
            until(lambda: (_lag(page, "CL") or LIVE_LAG_S) < LIVE_LAG_S, "CL's lag to move")
            moved = _lag(page, "CL") or 0
            # Live bars extend the lake's minutes: more candles.
            _wait_for_candles(page, LIVE_MINUTES + 1)
            assert int(page.get_attribute("#chart", "data-last-time") or 0) > history_last
            # A closed minute arrives as a 1m bar and replaces the candle the 5s bars formed.
            until(lambda: minutes.count() > 0, "a closed minute", 30)
            assert (_lag(page, "CL") or 0) < moved
            row = page.locator("#freshness tr[data-symbol='CL']")
            assert "2024-03-05" in row.text_content() and "ago" in row.text_content()
            # ES had nothing in the lake: the stream gives it a day and a lag.
            until(lambda: _lag(page, "ES") is not None, "ES's lag")
            assert "2024-03-05" in page.locator("#freshness tr[data-symbol='ES']").text_content()
            # The status line gives every root's freshness, each with its unit.
            lag = r"\d+(\.\d)? (s|min|h|d)"
            fresh = page.text_content("#live-fresh") or ""
            assert re.fullmatch(f"CL {lag} · ES {lag} · NG –", fresh), fresh
            page.screenshot(path=artifacts(tmp_path) / "live-CL.png")

            # ES had no minutes in the lake: it draws what the stream brought, nothing older.
            page.select_option("#symbol", "ES")
            assert "symbol=ES" in page.url
            _wait_for_candles(page, 0)
            # The tape lists the picked symbol's bars only: CL's went with the switch.
            assert page.locator("#tape tbody tr:not([data-symbol='ES'])").count() == 0
            first = int(page.get_attribute("#chart", "data-first-time") or 0)
            assert first >= int(STREAM_START.timestamp())

            # The continuous front series: the lake's series, then the live front contract.
            # The minutes the stream landed before it was picked are the series' too (the
            # stream lands them in every series holding CLJ4): no gap before the live bars.
            until(lambda: _landed(streamer) >= 2, "two streamed minutes in the lake", 30)
            page.select_option("#symbol", "CL.c.0")
            _wait_for_candles(page, LIVE_MINUTES)
            assert _first(page) == int(datetime(2024, 3, 4, 23, tzinfo=UTC).timestamp())
            until(lambda: _seamless(page, 3), "every minute from the open to the live one")
            assert page.get_attribute("#chart", "data-live-contract") == "CLJ4"
            page.screenshot(path=artifacts(tmp_path) / "live-CL.c.0.png")

            # Without bars the lag ticks on with time (a live session has no end yet).
            streamer.stop()
            stopped = True
            before = _lag(page, "ES") or 0
            # Each second's tick may come late on a loaded machine: two must come within ten.
            deadline = time.monotonic() + 10
            while (_lag(page, "ES") or 0) < before + 2 and time.monotonic() < deadline:
                time.sleep(0.25)
            assert (_lag(page, "ES") or 0) >= before + 2
        finally:
            if not stopped:
                streamer.stop()


@pytest.mark.timeout(180)
def test_a_continuous_series_takes_the_live_bars_of_the_contract_it_holds(
    processed: Path, tmp_path: Path, page: Page
) -> None:
    with streaming(processed, tmp_path) as (client, key, streamer):
        # A bookmarked volume series: offered, and its lake minutes drawn.
        page.goto(f"{client.base_url}/ui/live#key={key}&symbol=CL.v.0")
        _wait_for_candles(page, LIVE_MINUTES - 1)
        assert page.input_value("#symbol") == "CL.v.0"
        offered = page.locator("#symbol option").all_text_contents()
        for root in ("CL", "ES", "NG"):
            for form in ("", ".c.0", ".c.1", ".v.0", ".v.1"):
                assert root + form in offered
        until(lambda: "subscribed" in (page.text_content("#live-state") or ""), "the socket")
        streamer.start()
        try:
            # CL.v.0 holds CLJ4, the stream's front contract: its bars extend the series.
            _wait_for_candles(page, LIVE_MINUTES + 1)
            assert page.get_attribute("#chart", "data-live-contract") == "CLJ4"
            assert "CLJ4" in (page.text_content("#live-join") or "")

            # CL.c.1 holds the next contract: the front contract's live bars do not join it.
            page.select_option("#symbol", "CL.c.1")
            until(lambda: page.get_attribute("#chart", "data-live-contract") == "CLK4", "the join")
            seen = page.text_content("#freshness td.live-age[data-symbol='CL']")
            until(
                lambda: page.text_content("#freshness td.live-age[data-symbol='CL']") != seen,
                "more CL bars",
            )
            assert _candles(page) == LIVE_MINUTES
            said = page.text_content("#live-join") or ""
            assert "CLK4" in said and "CLJ4" in said
            page.screenshot(path=artifacts(tmp_path) / "live-CL.c.1.png")
        finally:
            streamer.stop()


@pytest.mark.timeout(180)
def test_a_minute_captured_while_it_formed_goes_on_forming_with_the_live_bars(
    processed: Path, tmp_path: Path, page: Page
) -> None:
    """A capture taken inside a minute holds that minute's start; the live bars after the
    capture go on building it rather than waiting for the minute to close."""

    def with_a_partial_minute(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        last = body["data"][-1]
        body["data"].append(
            {**last, "ts": STREAM_START.isoformat().replace("+00:00", "Z"), "volume": 1}
        )
        route.fulfill(response=answer, json=body)

    with streaming(processed, tmp_path) as (client, key, streamer):
        page.route("**/v1/bars?symbol=CL&start=2024-03-05*", with_a_partial_minute)
        page.goto(f"{client.base_url}/ui/live#key={key}&symbol=CL")
        _wait_for_candles(page, LIVE_MINUTES)
        assert "V 1 (forming)" in (page.text_content("#last-candle") or "")
        until(lambda: "subscribed" in (page.text_content("#live-state") or ""), "the socket")
        streamer.start()
        try:
            fives = page.locator("#tape tbody tr[data-interval='5s']")
            until(lambda: fives.count() > 0, "a 5-second bar")
            assert page.locator("#tape tbody tr[data-interval='1m']").count() == 0
            said = page.text_content("#last-candle") or ""
            assert said.startswith("last 15:30:00") and said.endswith("(forming)"), said
            volume = int(re.search(r" V (\d+)", said)[1])
            assert volume > 1  # the lake's part and the live bars after it
            assert _candles(page) == LIVE_MINUTES + 1
        finally:
            streamer.stop()


def test_a_bookmark_says_what_is_not_offered_and_why_a_chart_is_blank(
    processed: Path, tmp_path: Path, page: Page
) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        key = credential(app, "reader")
        page.clock.install()  # the page's 30-second refresh is fast-forwarded below
        page.goto(f"{client.base_url}/ui/live#key={key}&symbol=CL.x.9")
        info = page.locator("#info")
        until(lambda: info.get_attribute("data-code") == "unknown_symbol", "the refusal")
        said = info.text_content() or ""
        assert "CL.x.9" in said and "CL.v.0" in said and "ES.c.1" in said
        assert _candles(page) == 0
        assert page.input_value("#symbol") == ""  # nothing picked in its place
        page.screenshot(path=artifacts(tmp_path) / "live-unknown-symbol.png")

        # A day without a session: the API's reason instead of a blank chart.
        page.goto(f"{client.base_url}/ui/live#symbol=CL&day=2024-03-09")
        until(lambda: info.get_attribute("data-code") == "no_session", "the empty reason")
        reason = client.get("/v1/bars", params={"symbol": "CL", "start": "2024-03-09"})
        assert info.text_content() == reason.json()["empty_reason"]["detail"]
        assert page.get_attribute("#chart", "data-empty-reason") == "no_session"
        # A trading day the lake does not hold says how to load it.
        page.goto(f"{client.base_url}/ui/live#symbol=CL&day=2024-03-01")
        until(lambda: info.get_attribute("data-code") == "not_loaded", "the empty reason")
        assert "market-spine process" in (info.text_content() or "")
        page.screenshot(path=artifacts(tmp_path) / "live-empty-reason.png")
        # A symbol not offered after a day without data: its refresh says nothing of that day.
        page.goto(f"{client.base_url}/ui/live#symbol=CL&day=2024-03-09")
        until(lambda: page.locator("#day-state [data-state='none']").count() == 1, "no data")
        page.goto(f"{client.base_url}/ui/live#symbol=ES.c.9")
        until(lambda: info.get_attribute("data-code") == "unknown_symbol", "the refusal")
        page.clock.fast_forward(31_000)
        page.wait_for_timeout(500)
        assert page.locator("#day-state").inner_html() == ""
        assert info.get_attribute("data-code") == "unknown_symbol"
        # A day with a date's form that the calendar lacks is said as the server says it.
        page.goto(f"{client.base_url}/ui/live#symbol=NG&day=2026-02-30")
        until(lambda: info.get_attribute("data-code") == "bad_day", "the bad day")
        said = info.text_content() or ""
        server = client.get("/ui/live", params={"symbol": "NG", "day": "2026-02-30"}).json()
        assert said == server["error"], said
        assert "February 2026 has 28 days" in said, said
        # A bookmark with a symbol and a day both wrong names both.
        page.goto(f"{client.base_url}/ui/live#symbol=CL.x.9&day=2024-02-30")
        until(lambda: "CL.x.9" in (info.text_content() or ""), "the refusal")
        said = info.text_content() or ""
        assert "February 2024 has 29 days" in said, said
        # A good bookmark draws again.
        page.goto(f"{client.base_url}/ui/live#symbol=cl.c.0&day=2024-03-05")
        _wait_for_candles(page, LIVE_MINUTES - 1)
        assert page.input_value("#symbol") == "CL.c.0"
        assert info.text_content() == ""


def test_a_past_day_shows_its_anomalies_on_the_chart(processed: Path, page: Page) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        key = credential(app, "reader")
        page.goto(f"{client.base_url}/ui/live#key={key}&symbol=CL&day=2024-03-04")
        _wait_for_candles(page, 0)
        assert page.text_content("#day") == "trade date 2024-03-04"
        assert page.locator("#day-state .badge").text_content() == "FAILED"
        # A session whose data is final opens whole, not on its last hours.
        assert page.get_attribute("#chart", "data-view") == "whole"
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
        # A series shows the anomalies of the contract it holds: CL.c.0 holds CLJ4, the
        # root's contract, so the root's; CL.c.1 holds CLK4, of which none were flagged.
        held = {row["contract"] for row in flagged.json()["data"] if row["flag_kinds"]}
        assert held == {"CLJ4"}
        for series, count in (("CL.c.0", len(kinds)), ("CL.c.1", 0)):
            page.goto("about:blank")
            page.goto(f"{client.base_url}/ui/live#key={key}&symbol={series}&day=2024-03-04")
            _wait_for_candles(page, 0)
            until(lambda said=str(count): page.text_content("#anomaly-count") == said, series)
            assert page.locator("#anomalies tbody tr").count() == count


def test_a_bad_key_or_a_narrow_one_shows_why(processed: Path, tmp_path: Path, page: Page) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        page.goto(f"{client.base_url}/ui/live#key=msk_0123456789abcdef_wrong")
        error = page.locator("#error")
        error.wait_for(state="visible")
        assert error.get_attribute("data-status") == "401"
        assert "No valid API key" in error.text_content()
        assert (error.text_content() or "").count("keys create") == 1
        assert _candles(page) == 0
        # A bookmark opened meanwhile does not take the refusal for an empty lake.
        page.evaluate("location.hash = 'symbol=CL'")
        info = page.locator("#info")
        until(lambda: info.get_attribute("data-code") == "no_key", "the reason the chart is blank")
        assert "in the lake yet" not in (info.text_content() or "")
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
        # The live session is whole only so far: its capture came before the session's close.
        live_share = live.locator(".completeness").text_content() or ""
        so_far = "100.0 % complete so far (captured 2024-03-05 15:30"
        assert live_share.startswith(so_far), live_share
        assert "final at 2024-03-05 22:00:00 UTC" in live_share, live_share
        assert "so far" not in (closed.locator(".completeness").text_content() or "")
        assert "missing" in closed.text_content()
        capture = closed.locator(".capture").text_content() or ""
        assert len(capture) == 26  # a ULID capture id
        assert closed.locator(".reason").text_content() == "certifying check failed: completeness"
        # The day built from those failed minutes fails with them: its tile counts its own
        # day and says why, naming the minutes and what they lack.
        daily = page.locator(
            "section[data-dataset='analytics/futures_bars_daily'] "
            "article.tile[data-trade-date='2024-03-04']"
        )
        assert daily.locator(".badge").text_content() == "FAILED"
        shown = daily.locator(".completeness").text_content() or ""
        assert "1 / 1 days" in shown, shown
        # Failed is never shown as complete, whatever share it holds.
        assert "complete" not in shown and "held, FAILED" in shown, shown
        # Its one whole day is not what it holds: the minutes held of those owed are, as the
        # minute tile says them.
        minute_share = re.match(
            r"^.* held, FAILED: \d+ / \d+ minutes", closed.locator(".completeness").text_content()
        )
        assert minute_share and shown.startswith(minute_share.group(0)), shown
        assert "100.0 %" not in shown, shown
        assert "complete" not in (closed.locator(".completeness").text_content() or "")
        why = daily.locator(".reason").text_content() or ""
        assert why.startswith("input normalized/futures_bars_1m FAILED: ") and "minutes" in why
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


def test_the_readiness_filter_offers_what_the_api_answers_and_ignores_late_answers(
    processed: Path, tmp_path: Path, page: Page
) -> None:
    app = create_app(settings_for(processed))
    held: list[Route] = []

    def hold_unfiltered(route: Route) -> None:
        if "dataset=" in route.request.url:
            route.continue_()
        else:
            held.append(route)

    with serving_app(app) as client:
        key = credential(app, "reader")
        # The API answers for every dataset it lists, the company one included.
        for name in readiness_datasets():
            answer = client.get("/v1/readiness", params={"dataset": name})
            assert answer.status_code == 200, (name, answer.text)
        company = client.get("/v1/readiness", params={"dataset": COMPANY}).json()["data"]
        assert [(r["trade_date"], r["state"]) for r in company] == [(COMPANY_DAY, "certified")]

        # The first read (every dataset) is held back, to answer after a narrower filter's.
        page.route("**/v1/readiness*", hold_unfiltered)
        page.goto(f"{client.base_url}/ui/readiness#key={key}")
        until(lambda: page.locator("#datasets").count() == 1 and len(held) == 1, "the first read")
        # The filter offers exactly what the API answers for.
        assert page.locator("#f-dataset option").all_text_contents() == [
            "all",
            *readiness_datasets(),
        ]
        # Picking a dataset applies it: no button to press.
        page.select_option("#f-dataset", COMPANY)
        tiles = page.locator("article.tile")
        company_tiles = page.locator(f"section[data-dataset='{COMPANY}'] article.tile")
        until(lambda: company_tiles.count() == 1, "the company tile")
        assert page.locator("#error").is_hidden()
        tile = company_tiles.first
        assert tile.locator(".badge").text_content() == "CERTIFIED"
        text = tile.text_content() or ""
        assert f"all rows · {COMPANY_DAY}" in text and "null" not in text
        page.screenshot(path=artifacts(tmp_path) / "readiness-company.png", full_page=True)

        # The older, wider read answers late: its tiles do not come back.
        with page.expect_response(lambda r: "/v1/readiness" in r.url and "dataset=" not in r.url):
            held.pop().continue_()
        page.wait_for_timeout(500)
        assert tiles.count() == 1
        page.unroute("**/v1/readiness*")

        # Back to every dataset: the minute bars' tiles replace the company's.
        page.select_option("#f-dataset", "normalized/futures_bars_1m")
        until(lambda: tiles.count() == 2 and company_tiles.count() == 0, "the bars' tiles")
        assert "dataset=normalized" in page.url
        # A date applies as it is picked.
        page.fill("#f-start", "2024-03-05")
        until(lambda: tiles.count() == 1, "the tile from the start on")
        page.fill("#f-start", "")
        until(lambda: tiles.count() == 2, "both tiles again")
        # A symbol list applies once typing pauses, not at each keystroke's half symbol.
        with page.expect_request(lambda r: "/v1/readiness" in r.url and "symbol=" in r.url) as read:
            page.locator("#f-symbol").press_sequentially("CL", delay=50)
        assert re.search(r"symbol=CL(&|$)", read.value.url), read.value.url
        until(lambda: tiles.count() == 2, "CL's tiles")
        # A filter the API refuses is said; the last good view stays.
        page.fill("#f-symbol", "XX")
        page.locator("#error").wait_for(state="visible")
        assert tiles.count() == 2
        # The stale-answer guard holds for reads the typing started: a slow read of XX (an
        # error) answering after CL's must not clear CL's tiles.
        slow: list[Route] = []
        page.route("**/v1/readiness*symbol=XY*", lambda route: slow.append(route))
        page.fill("#f-symbol", "XY")
        # A locator's count lets Playwright run the route handler while this polls.
        until(lambda: page.locator("#f-symbol").count() == 1 and len(slow) == 1, "the held read")
        # The tiles stay through a refusal, so wait for CL's own answer, not for tiles.
        with page.expect_response(lambda r: re.search(r"symbol=CL(&|$)", r.url) is not None):
            page.fill("#f-symbol", "CL")
        until(lambda: page.locator("#error").is_hidden(), "CL's answer to clear the error")
        slow.pop().continue_()
        page.wait_for_timeout(500)
        assert tiles.count() == 2 and page.locator("#error").is_hidden()


def test_a_key_given_in_a_later_fragment_is_taken_and_leaves_the_address(
    processed: Path, page: Page
) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        page.goto(f"{client.base_url}/ui/live#key=msk_0123456789abcdef_wrong")
        error = page.locator("#error")
        error.wait_for(state="visible")
        assert "key=" not in page.url
        # A bookmark with a good key opened in the same tab: only the fragment changes.
        page.goto(f"{client.base_url}/ui/live#key={credential(app, 'reader')}&symbol=CL")
        until(lambda: "key=" not in _address(page), "the key to leave the address")
        assert "symbol=CL" in page.url
        _wait_for_candles(page, LIVE_MINUTES - 1)
        assert error.is_hidden()
        assert page.text_content("#key-state") == "key set for this tab"

        # The same on the readiness page, with its filters taken from the new fragment.
        page.goto(f"{client.base_url}/ui/readiness#key={credential(app, 'reader')}")
        tiles = page.locator("section[data-dataset='normalized/futures_bars_1m'] article.tile")
        until(lambda: tiles.count() == 2, "the minute bars' tiles")
        page.goto(
            f"{client.base_url}/ui/readiness#key={credential(app, 'reader')}&start=2024-03-05"
        )
        until(lambda: "key=" not in _address(page), "the key to leave the address")
        until(lambda: tiles.count() == 1, "the tiles from the start on")
        assert page.input_value("#f-start") == "2024-03-05"


def test_a_bad_date_filter_is_said_and_the_last_good_view_stays(
    processed: Path, tmp_path: Path, page: Page
) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        key = credential(app, "reader")
        # On load there is no view to keep: the bad date is said and left out.
        page.goto(f"{client.base_url}/ui/readiness#key={key}&start=03/05/2024")
        said = page.locator("#filter-error")
        said.wait_for(state="visible")
        text = said.text_content() or ""
        assert "03/05/2024" in text and "YYYY-MM-DD" in text, text
        tiles = page.locator("section[data-dataset='normalized/futures_bars_1m'] article.tile")
        until(lambda: tiles.count() == 2, "every day's tiles")

        # A good date narrows the view and clears the message.
        page.fill("#f-start", "2024-03-05")
        until(lambda: tiles.count() == 1, "the tile from the start on")
        assert said.is_hidden()

        # A bookmark with a day that does not exist: said, and the view shown stays.
        page.goto(f"{client.base_url}/ui/readiness#start=2024-02-30")
        said.wait_for(state="visible")
        text = said.text_content() or ""
        assert "2024-02-30" in text and "February 2024 has 29 days" in text, text
        assert "last good" in text, text
        assert page.input_value("#f-start") == "2024-03-05"
        page.wait_for_timeout(300)
        assert tiles.count() == 1

        # An end before the start is said too, before the API is asked.
        page.fill("#f-end", "2024-03-04")
        until(lambda: "before From" in (said.text_content() or ""), "the order's message")
        assert tiles.count() == 1 and page.locator("#error").is_hidden()
        page.screenshot(path=artifacts(tmp_path) / "readiness-bad-date.png", full_page=True)
        page.fill("#f-end", "")
        page.fill("#f-start", "")
        until(lambda: tiles.count() == 2, "both tiles again")
        assert said.is_hidden()


def test_a_bad_symbol_or_dataset_is_said_once_and_the_last_view_stays(
    processed: Path, tmp_path: Path, page: Page
) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        key = credential(app, "reader")
        page.goto(f"{client.base_url}/ui/readiness#key={key}&symbol=CL")
        tiles = page.locator("section[data-dataset='normalized/futures_bars_1m'] article.tile")
        until(lambda: tiles.count() == 2, "CL's tiles")
        summary = page.text_content("#summary") or ""
        assert summary.startswith("3 partitions") or "partitions" in summary, summary
        error = page.locator("#error")

        # A symbol the API does not know: said, and the tiles and their summary stay.
        page.fill("#f-symbol", "XX")
        error.wait_for(state="visible")
        until(lambda: "XX" in (error.text_content() or ""), "XX's error")
        assert "last good filters" in (error.text_content() or "")
        assert tiles.count() == 2 and page.text_content("#summary") == summary
        # Another bad one replaces the error: one current error, never a pile.
        page.fill("#f-symbol", "XY")
        until(lambda: "XY" in (error.text_content() or ""), "XY's error")
        said = error.text_content() or ""
        assert "XX" not in said, said
        assert error.locator("p").count() == 2  # the error and the note that the view stays
        assert tiles.count() == 2 and page.text_content("#summary") == summary
        # A good symbol clears it.
        page.fill("#f-symbol", "CL")
        until(lambda: error.is_hidden(), "the error to clear")
        assert tiles.count() == 2

        # A bookmarked dataset readiness does not answer for: said with the known ones, and
        # the view shown stays.
        page.goto(f"{client.base_url}/ui/readiness#symbol=CL&dataset=normalized/nothing")
        said_box = page.locator("#filter-error")
        said_box.wait_for(state="visible")
        text = said_box.text_content() or ""
        assert "normalized/nothing" in text and "normalized/futures_bars_1m" in text, text
        assert "last good" in text
        page.wait_for_timeout(300)
        assert tiles.count() == 2 and page.input_value("#f-dataset") == ""
        page.screenshot(path=artifacts(tmp_path) / "readiness-bad-filters.png", full_page=True)
        # On load there is no view to keep: the bad dataset is said and left out.
        page.goto("about:blank")
        page.goto(f"{client.base_url}/ui/readiness#key={key}&dataset=normalized/nothing")
        said_box.wait_for(state="visible")
        until(lambda: tiles.count() == 2, "every dataset's tiles")
        assert "normalized/nothing" in (said_box.text_content() or "")
        assert page.locator("#error").is_hidden()


def test_the_readiness_symbol_filter_takes_contracts_and_continuous_series(
    processed: Path, page: Page
) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        key = credential(app, "reader")
        page.goto(f"{client.base_url}/ui/readiness#key={key}&symbol=CL.c.0")
        tiles = page.locator("article.tile")
        until(lambda: tiles.count() > 0, "CL's tiles")
        # The series and the root it is built from; not the root's other series.
        shown = {tiles.nth(i).get_attribute("data-symbol") for i in range(tiles.count())}
        assert shown == {"CL", "CL.c.0"}
        assert page.locator("#error").is_hidden()
        for symbol in ("ES.c.1", "CL.v.1", "CLJ4"):
            with page.expect_response(lambda r, s=symbol: f"symbol={s}" in r.url) as answer:
                page.fill("#f-symbol", symbol)
            assert answer.value.status == 200, symbol
            assert page.locator("#error").is_hidden()
        until(lambda: tiles.count() > 0, "CLJ4's tiles: CL's")
        page.fill("#f-symbol", "ES.c.1")
        until(lambda: "No partition" in (page.text_content("#datasets") or ""), "none for ES")


def test_the_live_status_line_gives_each_roots_freshness_with_its_unit(
    processed: Path, page: Page
) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        page.goto(f"{client.base_url}/ui/live#key={credential(app, 'reader')}")
        line = page.locator("#live-fresh")
        # The live session's capture lags its end by 6.5 hours; ES and NG have nothing yet.
        until(lambda: line.text_content() == "CL 6.5 h · ES – · NG –", "every root's lag")
        assert line.locator("[data-symbol='CL']").get_attribute("data-lag-s") == str(
            int(LIVE_LAG_S)
        )


def test_the_live_pages_side_tables_fit_a_desk_monitor(processed: Path, page: Page) -> None:
    app = create_app(settings_for(processed))
    with serving_app(app) as client:
        page.goto(f"{client.base_url}/ui/live#key={credential(app, 'reader')}")
        until(lambda: page.locator("#freshness tbody tr").count() == 3, "the freshness rows")
        for table in ("#freshness", "#anomalies", "#tape"):
            overflow = page.evaluate(
                "s => { const t = document.querySelector(s);"
                " return t.scrollWidth - t.parentElement.clientWidth; }",
                table,
            )
            assert overflow <= 0, f"{table} is {overflow} px wider than its panel at 1400 px"
