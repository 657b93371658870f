"""The readiness page in headless Chromium lists the company datasets with their tiles: a
dimension's capture certified with the rows it holds (company rows have no symbol)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from market_spine.api.app import create_app
from market_spine.company.definitions import build_definitions
from market_spine.lake.resource import LakeResource
from market_spine_tests.kit.api import credential, serving_app
from market_spine_tests.kit.browser import artifacts, chromium
from market_spine_tests.kit.homes import settings_for


@pytest.mark.timeout(180)
def test_company_datasets_have_tiles_on_the_readiness_page(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = settings_for(home)
    defs = build_definitions(settings)
    whole = [a for a in defs.assets or [] if a.partitions_def is None]
    lake = {"lake": LakeResource(root=str(settings.lake_root))}
    assert dg.materialize(whole, resources=lake, instance=dg.DagsterInstance.ephemeral()).success

    app = create_app(settings)
    with serving_app(app) as client, chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.goto(f"{client.base_url}/ui/readiness#key={credential(app, 'reader')}")
        page.locator("article.tile").first.wait_for()
        clients = page.locator("section[data-dataset='normalized/company_clients'] article.tile")
        assert clients.count() == 1
        assert clients.locator(".badge").text_content() == "CERTIFIED"
        assert "12 rows" in (clients.text_content() or "")
        assert len(clients.locator(".capture").text_content() or "") == 26
        sections = page.locator("section[data-dataset^='normalized/company_']").count()
        assert sections == 3  # the unpartitioned datasets materialized here
        page.screenshot(path=artifacts(tmp_path) / "readiness-company.png", full_page=True)
