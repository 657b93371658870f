"""Every route of the API × every role, from the one access table: public routes answer anyone,
the others 401 without a credential and 403 below their role or outside a key's datasets, in
the API's error shape. A route the table misses fails here (and stops the app from starting)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from market_spine.api.access import ROUTES, UI_ROUTE, Rule, served_routes, unruled
from market_spine.api.app import create_app
from market_spine.security.roles import ROLES, allows
from market_spine_tests.kit.api import credential
from market_spine_tests.kit.homes import settings_for

DAY = "2024-03-05"
#: A request each route answers when allowed (its path filled in, its required parameters).
SAMPLES: dict[str, tuple[str, dict[str, str]]] = {
    "/v1/bars": ("/v1/bars", {"symbol": "CL", "start": DAY}),
    "/v1/bars/daily": ("/v1/bars/daily", {"symbol": "CL", "start": DAY}),
    "/v1/bars/rolls": ("/v1/bars/rolls", {"symbol": "CL", "start": DAY}),
    "/v1/options/chain": ("/v1/options/chain", {"date": DAY}),
    "/v1/options/quotes": ("/v1/options/quotes", {"date": DAY}),
    "/v1/options/surface": ("/v1/options/surface", {"date": DAY}),
    "/v1/revisions": ("/v1/revisions", {"dataset": "normalized/futures_bars_1m"}),
    "/v1/catalog/{name:path}": ("/v1/catalog/normalized/futures_bars_1m", {}),
    "/v1/status": ("/v1/status", {"verify": "false"}),
    "/static-offline-docs": ("/static-offline-docs/swagger-ui.css", {}),
    "/v1/keys/{key_id}": ("/v1/keys/0000000000000000", {}),
    UI_ROUTE: ("/dagster/runs", {}),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(settings_for(tmp_path_factory.mktemp("access") / "home"))


@pytest.fixture(scope="module")
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(app: FastAPI) -> dict[str, str]:
    return {role: credential(app, role) for role in ROLES}


def _http_routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(r for r in served_routes(app.routes) if r[0] != "WS")


def _call(http: TestClient, method: str, path: str, token: str | None) -> Any:
    url, params = SAMPLES.get(path, (path, {}))
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return http.request(method, url, params=params, headers=headers)


def test_every_served_route_has_a_rule_and_every_rule_a_route(app: FastAPI) -> None:
    served = served_routes(app.routes)
    assert unruled(app) == set()
    assert set(ROUTES) == served, set(ROUTES) ^ served
    assert ("WS", "/v1/stream/bars") in served


def test_a_route_without_a_rule_stops_the_app_from_starting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from market_spine.api import access

    monkeypatch.setattr(access, "ROUTES", {k: v for k, v in ROUTES.items() if k[1] != "/metrics"})
    with pytest.raises(RuntimeError, match="/metrics"):
        create_app(settings_for(tmp_path / "home"))


@pytest.mark.parametrize("role", [*ROLES, None])
def test_every_route_for_every_role(
    app: FastAPI, http: TestClient, tokens: dict[str, str], role: str | None
) -> None:
    """Allowed: anything but 401/403. Refused: 403 naming the role needed; no credential: 401
    with a challenge. Every refusal has the API's error shape."""
    wrong = []
    for method, path in _http_routes(app):
        rule: Rule = ROUTES[(method, path)]
        answer = _call(http, method, path, None if role is None else tokens[role])
        if rule.role is None or (role is not None and allows(role, rule.role)):
            if answer.status_code in (401, 403):
                wrong.append(f"{path}: {role} refused {answer.status_code}")
            continue
        body = answer.json()
        assert set(body) == {"error", "field"}, (path, body)
        if role is None:
            # A browser opens the Dagster UI: it is asked for the key by HTTP Basic.
            scheme = "Basic" if path == UI_ROUTE else "Bearer"
            if answer.status_code != 401 or scheme not in answer.headers["www-authenticate"]:
                wrong.append(f"{path}: no credential got {answer.status_code}")
        elif answer.status_code != 403 or rule.role not in body["error"]:
            wrong.append(f"{path}: {role} got {answer.status_code} {body}")
    assert not wrong, wrong


@pytest.mark.parametrize("role", ROLES)
def test_the_websocket_for_every_role(http: TestClient, tokens: dict[str, str], role: str) -> None:
    rule = ROUTES[("WS", "/v1/stream/bars")]
    protocols = [f"bearer.{tokens[role]}"]
    with http.websocket_connect("/v1/stream/bars?symbols=CL", subprotocols=protocols) as ws:
        first = ws.receive_json()
    assert first["type"] == "error"
    # Allowed roles get past the checks to the stream itself, which does not run here.
    assert ("no real-time stream" in first["error"]) == allows(role, rule.role or "reader")


def test_a_bad_or_missing_credential_is_a_401_with_a_challenge(http: TestClient) -> None:
    none = http.get("/v1/catalog")
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    assert "market-spine keys create" in none.json()["error"]
    bad = http.get("/v1/catalog", headers={"Authorization": "Bearer msk_0123456789abcdef_x"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
    basic = http.get("/v1/catalog", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


def test_a_dataset_outside_a_keys_scope_is_refused_by_name(app: FastAPI, http: TestClient) -> None:
    token = credential(app, "quant", ("normalized/*",))
    headers = {"Authorization": f"Bearer {token}"}
    inside = http.get("/v1/bars", params={"symbol": "CL", "start": DAY}, headers=headers)
    assert inside.status_code not in (401, 403)
    daily = http.get("/v1/bars/daily", params={"symbol": "CL", "start": DAY}, headers=headers)
    assert daily.status_code == 403
    assert "analytics/futures_bars_daily" in daily.json()["error"]
    assert daily.json()["field"] == "dataset"
    revisions = http.get(
        "/v1/revisions", params={"dataset": "analytics/vol_surface_daily"}, headers=headers
    )
    assert revisions.status_code == 403 and "analytics/vol_surface_daily" in revisions.text
    allowed = http.get(
        "/v1/revisions", params={"dataset": "normalized/futures_bars_1m"}, headers=headers
    )
    assert allowed.status_code not in (401, 403)


def test_readyz_shows_detail_to_operators_only(http: TestClient, tokens: dict[str, str]) -> None:
    bare = http.get("/readyz").json()
    assert set(bare) == {"status"}
    reader = http.get("/readyz", headers={"Authorization": f"Bearer {tokens['reader']}"})
    assert set(reader.json()) == {"status"}
    operator = http.get("/readyz", headers={"Authorization": f"Bearer {tokens['operator']}"})
    assert {"status", "failed", "checks"} <= set(operator.json())


def test_every_request_carries_its_identity(app: FastAPI, tokens: dict[str, str]) -> None:
    seen: list[Any] = []
    inner = create_app(app.state.settings)

    async def capture(scope: Any, receive: Any, send: Any) -> None:
        await inner(scope, receive, send)
        if scope["type"] == "http":
            seen.append(scope.get("state", {}).get("identity"))

    with TestClient(capture) as client:
        client.get("/v1/catalog", headers={"Authorization": f"Bearer {tokens['quant']}"})
    identity = seen[-1]
    assert identity.role == "quant" and identity.method == "key"
    assert identity.actor.startswith("key:") and identity.datasets == ("*",)


def test_with_auth_off_everyone_is_the_local_admin(tmp_path: Path) -> None:
    settings = replace(settings_for(tmp_path / "home"), auth="off")
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/stream/status").status_code == 200
        assert {"checks"} <= set(client.get("/readyz").json())


def test_the_openapi_document_declares_the_bearer_scheme(http: TestClient) -> None:
    spec = http.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert spec["paths"]["/v1/bars"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_an_admin_lists_keys_without_secrets_and_revokes_at_once(
    app: FastAPI, http: TestClient, tokens: dict[str, str]
) -> None:
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    victim = credential(app, "reader")
    as_victim = {"Authorization": f"Bearer {victim}"}
    assert http.get("/v1/catalog", headers=as_victim).status_code != 401  # now cached
    listed = http.get("/v1/keys", headers=admin)
    assert listed.status_code == 200 and victim.split("_", 2)[2] not in listed.text
    key_id = victim.split("_")[1]
    assert key_id in {k["id"] for k in listed.json()["keys"]}
    revoked = http.delete(f"/v1/keys/{key_id}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    refused = http.get("/v1/catalog", headers=as_victim)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    missing = http.delete("/v1/keys/ffffffffffffffff", headers=admin)
    assert missing.status_code == 404 and missing.json()["field"] == "key_id"
