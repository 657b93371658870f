"""The live page's day badge describes the picked symbol's own bars, in headless Chromium against
a home of real imports: a continuous series shows its own certification (judged on the contract
it holds), never its root's, and a series the lake holds no bars of that day shows "no data"
with the reason instead of a badge. Screenshots are kept (see `kit.browser.artifacts`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import Page

from market_spine.api.app import create_app
from market_spine.runs.vendor_import import import_bars
from market_spine_tests.api.test_ui_browser import until
from market_spine_tests.kit.api import credential, serving_app
from market_spine_tests.kit.browser import artifacts, chromium
from market_spine_tests.kit.frames import contract_csv
from market_spine_tests.kit.homes import settings_for

#: ES before its March roll window: the front month is ESH4, the next ESM4.
BOTH, FRONT_ONLY = date(2024, 2, 27), date(2024, 2, 28)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BOTH: the front month short (ES failed), the next whole (ES.c.1 certified);
    FRONT_ONLY: the front month whole and no bars of the next (ES.c.1 holds nothing)."""
    folder = tmp_path_factory.mktemp("live-badge")
    home = folder / "home"
    settings = settings_for(home)
    with dg.instance_for_test() as instance:
        for name, day, contract, cut in (
            ("a", BOTH, "ESH4", 28),
            ("b", BOTH, "ESM4", 0),
            ("c", FRONT_ONLY, "ESH4", 0),
        ):
            path = contract_csv(folder / f"{name}.csv", day, contract, cut)
            import_bars(settings, path, contract, instance=instance)
    return home


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium() as browser:
        yield browser.new_context(viewport={"width": 1400, "height": 900}).new_page()


def _day_state(page: Page) -> tuple[str, str]:
    """(data-state, text) of what the day badge box shows once the day's bars are read."""
    said = page.locator("#day-state [data-state]")
    until(lambda: said.count() == 1, "the day's state")
    return said.get_attribute("data-state") or "", said.text_content() or ""


def test_the_badge_is_the_series_own_and_absent_bars_show_no_badge(
    home: Path, page: Page, tmp_path: Path
) -> None:
    app = create_app(settings_for(home))
    with serving_app(app) as client:
        key = credential(app, "reader")
        page.goto(f"{client.base_url}/ui/live#key={key}&symbol=ES.c.1&day={BOTH}")
        assert _day_state(page) == ("certified", "CERTIFIED")
        page.goto(f"{client.base_url}/ui/live#symbol=ES.c.0&day={BOTH}")
        assert _day_state(page) == ("failed", "FAILED")
        # No ESM4 bars that day: nothing to certify, and the reason instead.
        page.goto(f"{client.base_url}/ui/live#symbol=ES.c.1&day={FRONT_ONLY}")
        assert _day_state(page) == ("none", "no data")
        assert page.locator("#day-state .badge").count() == 0
        reason = client.get("/v1/bars", params={"symbol": "ES.c.1", "start": str(FRONT_ONLY)})
        detail = reason.json()["empty_reason"]["detail"]
        assert "ESM4" in detail
        assert page.get_attribute("#day-state [data-state]", "title") == detail
        page.screenshot(path=artifacts(tmp_path) / "live-no-data-badge.png")
        page.goto(f"{client.base_url}/ui/live#symbol=ES&day={FRONT_ONLY}")
        assert _day_state(page) == ("certified", "CERTIFIED")
