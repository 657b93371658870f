"""The live page's join of the lake and the stream for a series no run has built yet, its
freshness per source, and its picks from a link (`/ui/live?symbol=…&day=…`), in headless
Chromium with the fake TWS streaming; and `GET /v1/bars/held`, the contract a series holds by
its roll rule. Screenshots are kept (see `kit.browser.artifacts`).

The home holds ES's session of 2024-03-05 captured at 15:30 UTC (its minutes and daily bars,
no roll table, no continuous series) and nothing of CL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page

from market_spine.api.app import create_app
from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import domain_assets, resources
from market_spine_tests.api.test_ui_browser import STREAM_START, streaming, until
from market_spine_tests.kit.api import auth_headers, credential, serving_app
from market_spine_tests.kit.browser import artifacts, chromium
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)
#: ES's last minute in the lake: the capture at 15:30 holds the minutes before it.
LAKE_LAST = int(datetime(2024, 3, 5, 15, 29, tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ES's minutes and daily bars of DAY, captured at 15:30 UTC; no series built."""
    home = tmp_path_factory.mktemp("live-join") / "home"
    settings = settings_for(home)
    market = MarketDataResource(frozen_now="2024-03-05T15:30:00Z")
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            domain_assets(settings, "futures"),
            selection=[keys.RAW_BARS, keys.NORMALIZED_BARS, keys.DAILY_BARS],
            partition_key=partition_key(DAY, "ES"),
            resources=resources(settings, market),
            instance=instance,
        )
        assert result.success
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


def _chart(page: Page, name: str) -> int:
    return int(page.get_attribute("#chart", f"data-{name}") or 0)


def _settled(page: Page) -> tuple[int, int]:
    """(candles, last candle's time) read at one moment: read again until a live bar does not
    land between the two reads."""
    while True:
        seen = (_chart(page, "candles"), _chart(page, "last-time"))
        if seen == (_chart(page, "candles"), _chart(page, "last-time")):
            return seen


def _seamless(page: Page, lake_candles: int) -> bool:
    """The page draws a candle for every minute from the lake's last to its newest."""
    candles, last = _settled(page)
    return last > LAKE_LAST and candles - lake_candles == (last - LAKE_LAST) // 60


def _source(page: Page, symbol: str) -> tuple[str, str]:
    """(data-source of the lag, the "From" cell's text) the freshness table shows for `symbol`."""
    lag = page.locator(f"#freshness td.lag[data-symbol='{symbol}']")
    said = page.locator(f"#freshness td.source[data-symbol='{symbol}']")
    if not lag.count() or not said.count():
        return "", ""
    return lag.get_attribute("data-source") or "", said.text_content() or ""


@pytest.mark.timeout(240)
def test_a_series_not_built_yet_joins_the_stream_by_its_roll_rule(
    captured: Path, tmp_path: Path, page: Page
) -> None:
    with streaming(captured, tmp_path) as (client, key, streamer):
        # A link picks the series; the picks move into the fragment and the query leaves.
        page.goto(f"{client.base_url}/ui/live?symbol=es.c.0#key={key}")
        until(lambda: _chart(page, "candles") > 0, "ES's lake minutes")
        assert page.input_value("#symbol") == "ES.c.0"
        assert "?" not in page.url and "symbol=ES.c.0" in page.url
        info = page.locator("#info")
        until(lambda: info.get_attribute("data-code") == "series_not_built", "the note")
        assert "ESH4" in (info.text_content() or "")
        lake_candles = _chart(page, "candles")
        assert _chart(page, "last-time") == LAKE_LAST
        # Freshness stands on the lake's capture until the stream brings a newer bar.
        until(lambda: _source(page, "ES") == ("lake", "lake capture"), "ES's lake freshness")
        lake_lag = float(page.get_attribute("#freshness td.lag[data-symbol='ES']", "data-lag-s"))
        until(lambda: "subscribed" in (page.text_content("#live-state") or ""), "the socket")
        assert streamer.start() == {"CL": "CLJ4", "ES": "ESH4"}
        try:
            # ES.c.0 holds ESH4 by the calendar roll that day: the stream's bars join it at
            # once, after the lake's last minute.
            until(lambda: _chart(page, "candles") > lake_candles, "a live candle")
            assert page.get_attribute("#chart", "data-live-contract") == "ESH4"
            # Seamless: every minute after the lake's last is drawn, none skipped (a minute
            # the stream saw only part of arrives from the backfill a moment later).
            until(lambda: _seamless(page, lake_candles), "every minute after the lake's last")
            assert "ESH4 extends ES.c.0" in (page.text_content("#live-join") or "")
            until(lambda: _source(page, "ES") == ("stream", "stream"), "ES's stream freshness")
            stream_lag = float(
                page.get_attribute("#freshness td.lag[data-symbol='ES']", "data-lag-s")
            )
            assert stream_lag < lake_lag
            line = page.locator("#live-fresh [data-symbol='ES']")
            assert line.get_attribute("data-source") == "stream"
            # CL: nothing in the lake; the stream alone says which day.
            until(lambda: _source(page, "CL") == ("stream", "stream"), "CL's stream freshness")
            assert _source(page, "NG") == ("", "")
            page.screenshot(path=artifacts(tmp_path) / "live-ES.c.0-not-built.png")

            # A series of a root the lake holds nothing of draws the stream's bars alone.
            page.select_option("#symbol", "CL.c.0")
            until(lambda: _chart(page, "candles") > 0, "CL.c.0's live candles")
            assert page.get_attribute("#chart", "data-live-contract") == "CLJ4"
            assert _chart(page, "first-time") >= int(STREAM_START.timestamp())
            page.screenshot(path=artifacts(tmp_path) / "live-CL.c.0-stream-only.png")
        finally:
            streamer.stop()


def test_a_bad_day_is_refused_naming_the_form(captured: Path, page: Page) -> None:
    app = create_app(settings_for(captured))
    with serving_app(app) as client:
        # The link's day is checked as every route checks a day: refused, naming the form.
        for url in ("/ui/live?day=2024-02-30", "/ui/live?symbol=ES&day=03/05/2024"):
            refused = client.get(url)
            assert refused.status_code == 422, url
            assert refused.json()["field"] == "day"
            assert "YYYY-MM-DD" in refused.json()["error"]
        options = client.get("/v1/options/chain", params={"root": "SPXW", "date": "2024-02-30"})
        gaps = client.get("/v1/gaps", params={"start": "2024-02-30", "end": "2024-03-05"})
        for answer, field in ((options, "date"), (gaps, "start")):
            assert answer.status_code == 422 and answer.json()["field"] == field
            said = answer.json()["error"]
            assert "February 2024 has 29 days" in said and "YYYY-MM-DD" in said, said
        assert client.get("/ui/live?symbol=XX").json()["field"] == "symbol"

        # A bookmarked day (the fragment never reaches the server) is said on the page, and
        # no other day is drawn in its place.
        page.goto(f"{client.base_url}/ui/live#key={credential(app, 'reader')}&symbol=ES")
        until(lambda: _chart(page, "candles") > 0, "ES's minutes")
        page.goto(f"{client.base_url}/ui/live#symbol=ES&day=2024-02-30")
        info = page.locator("#info")
        until(lambda: info.get_attribute("data-code") == "bad_day", "the refusal")
        said = info.text_content() or ""
        assert "2024-02-30" in said and "YYYY-MM-DD" in said, said
        assert _chart(page, "candles") == 0


def test_the_contract_a_series_holds_is_known_before_it_is_built(captured: Path) -> None:
    app = create_app(settings_for(captured))
    with TestClient(app, headers=auth_headers(app, "reader")) as api:
        for symbol, contract in (("ES.c.0", "ESH4"), ("es.c.1", "ESM4"), ("CL.v.0", "CLJ4")):
            held = api.get("/v1/bars/held", params={"symbol": symbol, "day": "2024-03-05"})
            assert held.status_code == 200, held.text
            assert held.json()["contract"] == contract
        # From ES's March roll (2024-03-07) on, the front is June's.
        after = api.get("/v1/bars/held", params={"symbol": "ES.c.0", "day": "2024-03-07"})
        assert after.json()["contract"] == "ESM4"
        root = api.get("/v1/bars/held", params={"symbol": "ES", "day": "2024-03-05"})
        assert root.status_code == 422 and "ES.c.0" in root.json()["error"]
        # A Saturday has no session: no contract is held, as the bars route says.
        weekend = api.get("/v1/bars/held", params={"symbol": "ES.c.0", "day": "2024-03-09"})
        assert weekend.status_code == 422 and weekend.json()["field"] == "day"
        assert "no session" in weekend.json()["error"]
        bad = api.get("/v1/bars/held", params={"symbol": "ES.c.0", "day": "2024-02-30"})
        assert bad.status_code == 422 and bad.json()["field"] == "day"
        assert "YYYY-MM-DD" in bad.json()["error"]
