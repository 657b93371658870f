"""The API's audit trail, in a SQLite file and in PostgreSQL: every request recorded with its
identity (or anonymous), its route, parameters and the datasets it read; WebSocket
subscriptions too; credentials in the query masked; `GET /v1/audit` filters like the export."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from market_spine.api.app import create_app
from market_spine.audit.recorder import recorder
from market_spine.audit.store import audit_database
from market_spine.audit.verify import verify
from market_spine.security.keys import KeyStore
from market_spine_tests.kit.api import serving, serving_app
from market_spine_tests.kit.homes import home_with_instance, settings_for
from market_spine_tests.kit.state_db import DIALECTS, stored_text, use_postgres


@pytest.fixture(scope="module", params=DIALECTS)
def served(
    request: pytest.FixtureRequest,
    materialized_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    """A served home whose trail is a SQLite file, then one whose trail is in PostgreSQL."""
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "postgresql":
            use_postgres(request.getfixturevalue("postgres"), patch)
        yield home_with_instance(materialized_home, tmp_path_factory.mktemp("audit") / "home")


def bearer(home: Path, role: str) -> tuple[str, dict[str, str]]:
    """A new key of `role` in `home`: its actor and its Authorization header."""
    issued = KeyStore(home).create(role, name="test")
    return f"key:{issued.record.id}", {"Authorization": f"Bearer {issued.token}"}


def entries(client: httpx.Client, home: Path, **filters: Any) -> list[dict[str, Any]]:
    recorder(home).flush()
    _, compliance = bearer(home, "compliance")
    answer = client.get("/v1/audit", params=filters, headers=compliance)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def test_requests_and_subscriptions_are_recorded(served: Path) -> None:
    app = create_app(settings_for(served))
    quant, as_quant = bearer(served, "quant")
    with serving_app(app, role=None) as client:
        bars = client.get(
            "/v1/bars", params={"symbol": "CL", "start": "2024-03-05"}, headers=as_quant
        )
        assert bars.status_code == 200, bars.text
        # A secret put in the query string is refused like any unknown parameter, and the
        # trail keeps the refusal without the secret.
        leaked = {"symbol": "CL", "start": "2024-03-05", "api_key": "hunter2"}
        assert client.get("/v1/bars", params=leaked, headers=as_quant).status_code == 400
        unknown = {"symbol": "ZZ", "start": "2024-03-05"}
        assert client.get("/v1/bars", params=unknown, headers=as_quant).status_code == 422
        assert client.get("/v1/bars", params=unknown).status_code == 401
        client.get("/healthz")
        token = as_quant["Authorization"].removeprefix("Bearer ")
        ws_url = (
            str(client.base_url).replace("http", "ws") + f"/v1/stream/bars?symbols=CL&token={token}"
        )
        with connect(ws_url) as ws:
            ws.recv(timeout=10)
        with connect(ws_url.replace(token, "msk_0_wrong")) as refused_ws:
            refused_ws.recv(timeout=10)  # the error, then the close

        found = entries(client, served, action="http.get", actor=quant)
        [read, secret, invalid] = [e for e in found if e["params"]["path"] == "/v1/bars"]
        assert read["dataset"] == "normalized/futures_bars_1m"
        assert read["outcome"] == "200"
        assert read["params"]["route"] == "/v1/bars"
        assert read["params"]["query"] == {"symbol": "CL", "start": "2024-03-05"}
        assert secret["outcome"] == "400"
        assert secret["params"]["query"] == {
            "symbol": "CL",
            "start": "2024-03-05",
            "api_key": "***",
        }
        assert read["at"].endswith("+00:00")

        assert (invalid["outcome"], invalid["params"]["query"]["symbol"]) == ("422", "ZZ")
        [refused] = entries(client, served, actor="anonymous", action="http.get")
        assert (refused["outcome"], refused["params"]["query"]["symbol"]) == ("401", "ZZ")
        deadline = time.monotonic() + 5
        subscribed: list[dict[str, Any]] = []
        while len(subscribed) < 2 and time.monotonic() < deadline:
            subscribed = entries(client, served, action="ws.subscribe")
        [ws_entry] = [e for e in subscribed if e["outcome"] == "accepted"]
        [ws_refused] = [e for e in subscribed if e["outcome"] != "accepted"]
        assert (ws_refused["outcome"], ws_refused["actor"]) == ("refused 4401", "anonymous")
        assert ws_entry["outcome"] == "accepted"
        assert ws_entry["params"]["query"] == {"symbols": "CL", "token": "***"}
        assert ws_entry["actor"] == quant
        trail = entries(client, served, since="1h")
        assert not any(e["params"]["path"] == "/healthz" for e in trail)
        # The compliance reads of /v1/audit are themselves in the trail.
        assert any(e["params"]["path"] == "/v1/audit" for e in trail)
    assert verify(served).intact
    assert "hunter2" not in stored_text(audit_database(served))


def test_audit_paging_and_a_bad_since(served: Path) -> None:
    app = create_app(settings_for(served))
    _, compliance = bearer(served, "compliance")
    _, operator = bearer(served, "operator")
    with serving_app(app, role=None) as client:
        for _ in range(3):
            client.get("/v1/catalog/normalized/futures_bars_1m", headers=operator)
        recorder(served).flush()
        page = {"action": "http.get", "limit": 2}
        first = client.get("/v1/audit", params=page, headers=compliance).json()
        assert len(first["entries"]) == 2 and first["next_after"] == first["entries"][-1]["seq"]
        rest = client.get(
            "/v1/audit",
            params={"action": "http.get", "after": first["next_after"]},
            headers=compliance,
        ).json()
        assert rest["entries"][0]["seq"] > first["next_after"]
        for limit, why in (("0", "greater than or equal to 1"), ("50001", "less than or equal")):
            refused = client.get("/v1/audit", params={"limit": limit}, headers=compliance)
            assert refused.status_code == 422 and refused.json()["field"] == "limit"
            assert f"limit='{limit}' is invalid" in refused.text and why in refused.text
        bad = client.get("/v1/audit", params={"since": "yesterday-ish"}, headers=compliance)
        assert bad.status_code == 422 and "--since 7d" in bad.text
        # An operator may not read the trail: it needs the compliance role.
        assert client.get("/v1/audit", headers=operator).status_code == 403


def test_a_trail_nothing_was_recorded_in_yet_is_an_empty_page(state_home: Path) -> None:
    with serving(state_home) as client:
        _, compliance = bearer(state_home, "compliance")
        answer = client.get("/v1/audit", headers=compliance)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"entries": [], "next_after": None}
        # That request's own entry is queued once its answer is sent: it appears shortly.
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5
        while not found and time.monotonic() < deadline:
            found = client.get("/v1/audit", headers=compliance).json()["entries"]
        assert found[0]["params"]["path"] == "/v1/audit"
