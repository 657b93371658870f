"""The API's audit trail: every request recorded with its identity (or anonymous), its route,
parameters and the datasets it read; WebSocket subscriptions too; credentials in the query
masked; `GET /v1/audit` filters like the export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from market_spine.api.app import create_app
from market_spine.audit.recorder import recorder
from market_spine.audit.verify import verify
from market_spine_tests.kit.api import serving_app
from market_spine_tests.kit.homes import home_with_instance, settings_for
from market_spine_tests.kit.stand_in_auth import StandInAuthentication


@pytest.fixture(scope="module")
def served(materialized_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return home_with_instance(materialized_home, tmp_path_factory.mktemp("audit") / "home")


def entries(client: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    recorder(client.app_home).flush()  # type: ignore[attr-defined]
    answer = client.get("/v1/audit", params=filters, headers={"x-test-actor": "compliance-1"})
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def test_requests_and_subscriptions_are_recorded(served: Path) -> None:
    app = create_app(settings_for(served))
    app.add_middleware(StandInAuthentication)
    with serving_app(app) as client:
        client.app_home = served  # type: ignore[attr-defined]
        bars = client.get(
            "/v1/bars",
            params={"symbol": "CL", "start": "2024-03-05", "api_key": "hunter2"},
            headers={"x-test-actor": "key:quant-7"},
        )
        assert bars.status_code == 200, bars.text
        assert (
            client.get("/v1/bars", params={"symbol": "ZZ", "start": "2024-03-05"}).status_code
            == 422
        )
        client.get("/healthz")
        ws_url = (
            str(client.base_url).replace("http", "ws") + "/v1/stream/bars?symbols=CL&token=s3cret"
        )
        with connect(ws_url) as ws:
            ws.recv(timeout=10)

        found = entries(client, action="http.get", actor="key:quant-7")
        [read] = [e for e in found if e["params"]["path"] == "/v1/bars"]
        assert read["dataset"] == "normalized/futures_bars_1m"
        assert read["outcome"] == "200"
        assert read["params"]["route"] == "/v1/bars"
        assert read["params"]["query"] == {"symbol": "CL", "start": "2024-03-05", "api_key": "***"}
        assert read["at"].endswith("+00:00")

        [refused] = entries(client, actor="anonymous", action="http.get")
        assert (refused["outcome"], refused["params"]["query"]["symbol"]) == ("422", "ZZ")
        deadline = time.monotonic() + 5
        subscribed: list[dict[str, Any]] = []
        while not subscribed and time.monotonic() < deadline:
            subscribed = entries(client, action="ws.subscribe")
        [ws_entry] = subscribed
        assert ws_entry["outcome"] == "accepted"
        assert ws_entry["params"]["query"] == {"symbols": "CL", "token": "***"}
        assert not any(e["params"]["path"] == "/healthz" for e in entries(client, since="1h"))
        # The compliance reads of /v1/audit are themselves in the trail.
        assert entries(client, action="http.get", actor="compliance-1")
    assert verify(served).intact
    assert "hunter2" not in (served / "audit" / "audit.sqlite").read_bytes().decode("latin-1")


def test_audit_paging_and_a_bad_since(served: Path) -> None:
    app = create_app(settings_for(served))
    with serving_app(app) as client:
        for _ in range(3):
            client.get("/v1/catalog/normalized/futures_bars_1m")
        recorder(served).flush()
        first = client.get("/v1/audit", params={"action": "http.get", "limit": 2}).json()
        assert len(first["entries"]) == 2 and first["next_after"] == first["entries"][-1]["seq"]
        rest = client.get(
            "/v1/audit", params={"action": "http.get", "after": first["next_after"]}
        ).json()
        assert rest["entries"][0]["seq"] > first["next_after"]
        bad = client.get("/v1/audit", params={"since": "yesterday-ish"})
        assert bad.status_code == 422 and "--since 7d" in bad.text
