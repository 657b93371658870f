"""The browser pages as served: public shells without data, their assets from the package (no
CDN), security headers that keep other origins' scripts out of a page holding a key."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from market_spine.api import routes_ui
from market_spine.api.app import create_app
from market_spine_tests.kit.homes import settings_for

CHART = "vendor/lightweight-charts/lightweight-charts.standalone.production.js"


def test_the_pages_are_public_shells_with_a_strict_policy(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path / "home"))
    with TestClient(app) as http:
        for page in ("/ui/live", "/ui/readiness"):
            answer = http.get(page)  # no credential: the shell holds no data
            assert answer.status_code == 200, page
            policy = answer.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
            assert answer.headers["referrer-policy"] == "no-referrer"
            # The configured symbols name the picker's choices; no bar, no readiness row.
            assert 'content="CL,ES,NG"' in answer.text
            assert "{{" not in answer.text and 'id="key-form"' in answer.text
        chart = http.get(f"/ui/assets/{CHART}")
        assert chart.status_code == 200 and "TradingView Lightweight Charts" in chart.text
        assert http.get("/ui/assets/vendor/lightweight-charts/LICENSE").status_code == 200
        # The pages are served only by their routes (with the headers), never as plain files.
        assert http.get("/ui/assets/live.html").status_code == 404
        assert http.get("/ui/assets/../pages/live.html").status_code == 404
        # Data still needs a key.
        assert http.get("/v1/readiness").status_code == 401
        # A pick the page does not take is refused, naming the ones it does.
        misspelt = http.get("/ui/live", params={"symbl": "ES"})
        assert misspelt.status_code == 400 and misspelt.json()["field"] == "symbl"
        said = misspelt.json()["error"]
        assert "/ui/live takes day, symbol" in said and "did you mean symbol" in said, said
        # A link whose symbol and day are both wrong names both.
        both = http.get("/ui/live", params={"symbol": "CL.x.9", "day": "2024-02-30"})
        assert both.status_code == 422 and both.json()["field"] == "symbol,day"
        said = both.json()["error"]
        assert "CL.x.9" in said and "February 2024 has 29 days" in said, said
        refused = http.get("/ui/readiness", params={"day": "2024-03-05"})
        assert refused.status_code == 400 and "takes no query parameter" in refused.json()["error"]


def test_nothing_loads_from_another_origin() -> None:
    pages = sorted(routes_ui.PAGE_FILES.glob("*.html"))
    assert [p.name for p in pages] == ["_key_form.html", "live.html", "readiness.html"]
    for page in pages[1:]:
        text = routes_ui.page(page.stem, ("CL",)).body.decode()
        sources = re.findall(r'(?:src|href)="([^"]+)"', text)
        assert sources, page
        assert not [s for s in sources if re.match(r"(https?:)?//", s)], page
        for source in sources:
            if source.startswith("assets/"):
                assert (routes_ui.ASSET_FILES / source.removeprefix("assets/")).is_file(), source
    assert (routes_ui.ASSET_FILES / CHART).with_name("LICENSE").is_file()
