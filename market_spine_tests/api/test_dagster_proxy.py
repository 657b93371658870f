"""The Dagster UI through the API: nothing without an identity (and a browser is asked for its
key by HTTP Basic authentication), nothing below the operator role, the read-only UI for
compliance, GraphQL mutations (deleteRun, launchRun, wipeAssets ...) only for operators and
admins; the API's own credentials never reach the webserver."""

from __future__ import annotations

import base64
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from market_spine.api.app import create_app
from market_spine.api.ui_operations import mutates, operations_of
from market_spine.audit.recorder import recorder
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
    def ops(body: bytes, ctype: str = "application/json", url: dict[str, str] | None = None):
        return operations_of(ctype, (url or {}).items(), body)

    assert not mutates(ops(b'{"query": "{ runsOrError { __typename } }"}'))
    wipe = b'{"query": "mutation { wipeAssets(assetPartitionRanges: []) { __typename } }"}'
    assert mutates(ops(wipe)) and ops(wipe)[0].fields == ("wipeAssets",)
    # The operation that runs is the one named: a document may hold both kinds.
    both = "query Q { version } mutation M { launchRun { __typename } }"
    assert not mutates(ops(f'{{"query": "{both}", "operationName": "Q"}}'.encode()))
    assert mutates(ops(f'{{"query": "{both}", "operationName": "M"}}'.encode()))
    assert mutates(ops(f'{{"query": "{both}"}}'.encode()))
    assert mutates(ops(b"not json")) and mutates(ops(b'{"query": "mutation {"}'))
    assert mutates(ops(b'{"query": "subscription { x }"}'))
    # The webserver also runs a query from the URL, and a body of application/graphql.
    assert mutates(ops(b"", "", {"query": 'mutation { deleteRun(runId: "x") { __typename } }'}))
    assert mutates(ops(b"", "text/plain", {"query": "mutation M { x }", "operationName": "M"}))
    assert mutates(ops(b"mutation { x }", "application/graphql"))
    assert mutates(ops(b"anything", "text/plain"))
    assert not mutates(ops(b"", "", {"query": "{ version }"}))
    assert mutates(ops(b"", "", {"query": "{ version }", "variables": "{not json"}))


DELETE_IN_URL = {"query": DELETE_RUN["query"], "variables": '{"id": "r1"}'}


def test_no_change_travels_in_a_url_or_a_body_a_form_can_send(proxied: Any) -> None:
    """A GET or a text/plain POST is what another site's page can make a browser send with a
    remembered credential: no mutation goes that way, whatever the role."""
    client, seen = proxied
    for role, status in (("compliance", 403), ("operator", 405), ("admin", 405)):
        auth = as_role(client, role, basic=True)
        got = client.get("/dagster/graphql", params=DELETE_IN_URL, headers=auth)
        assert got.status_code == status, (role, got.text)
        plain = {**auth, "content-type": "text/plain"}
        posted = client.post("/dagster/graphql", params=DELETE_IN_URL, headers=plain)
        assert posted.status_code == status, (role, posted.text)
        graphql_body = {**auth, "content-type": "application/graphql"}
        typed = client.post(
            "/dagster/graphql",
            content=b"mutation { wipeAssets { __typename } }",
            headers=graphql_body,
        )
        assert typed.status_code == status, (role, typed.text)
        assert set(got.json()) == {"error", "field"}
    assert seen == []


def test_another_sites_page_is_refused(proxied: Any) -> None:
    client, seen = proxied
    operator = as_role(client, "operator")
    for cross in (
        {"sec-fetch-site": "cross-site"},
        {"origin": "http://evil.example"},
    ):
        refused = client.post("/dagster/graphql", json=RUNS, headers={**operator, **cross})
        assert refused.status_code == 403 and "another site" in refused.json()["error"]
    assert seen == []
    own = {"sec-fetch-site": "same-origin"}
    assert client.post("/dagster/graphql", json=RUNS, headers={**operator, **own}).is_success


def test_a_launch_may_not_name_who_launched_it(proxied: Any) -> None:
    client, seen = proxied
    launch = {
        "query": "mutation L($p: ExecutionParams!) { launchRun(executionParams: $p) "
        "{ __typename } }",
        "variables": {
            "p": {
                "executionMetadata": {"tags": [{"key": "market_spine/launched_by", "value": "x"}]}
            }
        },
    }
    refused = client.post("/dagster/graphql", json=launch, headers=as_role(client, "operator"))
    assert refused.status_code == 403 and "market_spine/" in refused.json()["error"]
    assert seen == []


def test_the_audit_trail_names_the_key_and_what_it_ran(proxied: Any) -> None:
    client, _ = proxied
    issued = KeyStore(client.home).create("operator", name="ops")
    done = client.post(
        "/dagster/graphql", json=DELETE_RUN, headers={"Authorization": f"Bearer {issued.token}"}
    )
    assert done.status_code == 200
    compliance = as_role(client, "compliance")
    # The request's entry is queued as its response ends, which may come after the client
    # has the response: flush until it is written (the recorder writes within seconds anyway).
    deadline = time.monotonic() + 30
    while True:
        recorder(client.home).flush()
        trail = client.get(
            "/v1/audit", params={"actor": f"key:{issued.record.id}"}, headers=compliance
        )
        if trail.json()["entries"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    [entry] = trail.json()["entries"]
    [operation] = entry["params"]["graphql"]
    assert (operation["kind"], operation["fields"]) == ("mutation", ["deleteRun"])
    assert '"r1"' in operation["variables"]
