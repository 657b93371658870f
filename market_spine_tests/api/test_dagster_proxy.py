"""The Dagster UI through the API: nothing without an identity (and a browser is asked for its
key by HTTP Basic authentication), nothing below the operator role, the read-only UI for
compliance, GraphQL mutations (deleteRun, launchRun, wipeAssets ...) only for operators and
admins; the API's own credentials never reach the webserver."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from market_spine.api.app import create_app
from market_spine.api.dagster_proxy import mutates
from market_spine.security.keys import KeyStore
from market_spine_tests.kit.api import serving_app
from market_spine_tests.kit.homes import settings_for

DELETE_RUN = {
    "query": "mutation Del($id: String!) { deleteRun(runId: $id) { __typename } }",
    "variables": {"id": "r1"},
}
RUNS = {"query": "query Runs { runsOrError { __typename } }"}


def stand_in_webserver(seen: list[dict[str, Any]]) -> FastAPI:
    """Answers like the webserver under /dagster, recording what reaches it."""
    app = FastAPI()

    @app.post("/dagster/graphql")
    async def graphql(request: Request) -> dict[str, Any]:
        seen.append({"body": await request.json(), "headers": dict(request.headers)})
        return {"data": {"ok": True}}

    @app.get("/dagster/runs")
    async def page(request: Request) -> HTMLResponse:
        seen.append({"path": request.url.path, "query": dict(request.query_params)})
        return HTMLResponse("<html>runs</html>")

    return app


@pytest.fixture
def proxied(home: Path) -> Any:
    seen: list[dict[str, Any]] = []
    webserver = stand_in_webserver(seen)
    webserver.state.settings = settings_for(home)
    with serving_app(webserver, role=None) as upstream:
        settings = replace(settings_for(home), ui_port=upstream.base_url.port)
        app = create_app(settings)
        with serving_app(app, role=None) as client:
            client.home = home  # type: ignore[attr-defined]
            yield client, seen


def as_role(client: Any, role: str, basic: bool = False) -> dict[str, str]:
    """The Authorization header of a new key of `role`: a bearer token, or the key as the
    password of HTTP Basic authentication (what a browser sends)."""
    token = KeyStore(client.home).create(role, name="test").token
    if basic:
        return {"Authorization": "Basic " + base64.b64encode(f"me:{token}".encode()).decode()}
    return {"Authorization": f"Bearer {token}"}


def test_nothing_without_an_identity(proxied: Any) -> None:
    client, seen = proxied
    page = client.get("/dagster/runs")
    assert page.status_code == 401
    # A browser asks the user for the key: any user name, the key as the password.
    assert page.headers["www-authenticate"].startswith("Basic ")
    refused = client.post("/dagster/graphql", json=DELETE_RUN)
    assert refused.status_code == 401 and "Authorization" in refused.json()["error"]
    wrong = {"Authorization": "Basic " + base64.b64encode(b"me:msk_0_wrong").decode()}
    assert client.get("/dagster/runs", headers=wrong).status_code == 401
    assert client.get("/dagster/runs", headers={"Authorization": "Basic %%%"}).status_code == 401
    assert seen == []


def test_below_the_operator_role_nothing(proxied: Any) -> None:
    client, seen = proxied
    for role in ("reader", "quant"):
        refused = client.get("/dagster/runs", headers=as_role(client, role))
        assert refused.status_code == 403 and "operator" in refused.json()["error"]
    assert seen == []


def test_compliance_gets_the_read_only_ui(proxied: Any) -> None:
    client, seen = proxied
    compliance = as_role(client, "compliance", basic=True)
    page = client.get("/dagster/runs", params={"tab": "all"}, headers=compliance)
    assert page.status_code == 200 and page.text == "<html>runs</html>"
    assert seen[-1] == {"path": "/dagster/runs", "query": {"tab": "all"}}
    query = client.post("/dagster/graphql", json=RUNS, headers=compliance)
    assert query.status_code == 200 and query.json() == {"data": {"ok": True}}
    assert "authorization" not in seen[-1]["headers"]
    before = len(seen)
    for body in (DELETE_RUN, [RUNS, DELETE_RUN]):
        refused = client.post("/dagster/graphql", json=body, headers=compliance)
        assert refused.status_code == 403 and "operator" in refused.json()["error"]
    assert len(seen) == before


def test_operators_may_change_things(proxied: Any) -> None:
    client, seen = proxied
    for role in ("operator", "admin"):
        done = client.post("/dagster/graphql", json=DELETE_RUN, headers=as_role(client, role))
        assert done.status_code == 200
        assert seen[-1]["body"] == DELETE_RUN


def test_what_counts_as_a_mutation() -> None:
    assert not mutates(b'{"query": "{ runsOrError { __typename } }"}')
    assert mutates(b'{"query": "mutation { wipeAssets(assetPartitionRanges: []) { __typename } }"}')
    # The operation that runs is the one named: a document may hold both kinds.
    both = "query Q { version } mutation M { launchRun { __typename } }"
    assert not mutates(f'{{"query": "{both}", "operationName": "Q"}}'.encode())
    assert mutates(f'{{"query": "{both}", "operationName": "M"}}'.encode())
    assert mutates(f'{{"query": "{both}"}}'.encode())
    assert mutates(b"not json") and mutates(b'{"query": "mutation {"}')
    assert mutates(b'{"query": "subscription { x }"}')
