"""The Dagster UI through the API at `/dagster/`: the webserver listens on loopback only (its
GraphQL API has no authentication), and this proxy lets authenticated identities reach it.

Its guard (`access.ui_guard`) admits the operator role and above, taking the API key as a
bearer token or as the password a browser sends by HTTP Basic authentication. GraphQL
mutations (launch, delete, wipe, terminate ...) need the `operator` or `admin` role itself
(403 otherwise, and the webserver never sees them): compliance gets the read-only UI. The
webserver runs with the same path prefix (`DAGSTER_WEBSERVER_PATH_PREFIX`), so its pages
and assets resolve under `/dagster/`. WebSocket upgrades are not proxied: the UI falls back
to polling."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from graphql import GraphQLError, OperationType, parse
from starlette.background import BackgroundTask

from market_spine.settings import UI_HOST
from market_spine.settings import UI_PATH_PREFIX as PATH_PREFIX

#: Roles that may change things through the UI.
MUTATING_ROLES = frozenset({"operator", "admin"})
#: Request headers not forwarded (hop-by-hop, or the API's own credentials).
_DROPPED = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "upgrade", "authorization", "cookie"}
)
_DROPPED_BACK = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})

router = APIRouter(include_in_schema=False)


def _refusal(status: int, error: str) -> JSONResponse:
    return JSONResponse({"error": error, "status": status}, status_code=status)


def mutates(body: bytes) -> bool:
    """Whether a GraphQL request body (one operation or a batch) runs a mutation; a body that
    cannot be read counts as one, so only what is understood to be a read gets through."""
    try:
        payload: Any = json.loads(body or b"{}")
    except ValueError:
        return True
    for op in payload if isinstance(payload, list) else [payload]:
        if not isinstance(op, dict) or not isinstance(op.get("query", ""), str):
            return True
        if not op.get("query"):
            continue
        try:
            document = parse(op["query"])
        except GraphQLError:
            return True
        wanted = op.get("operationName")
        for node in document.definitions:
            operation = getattr(node, "operation", None)
            name = getattr(getattr(node, "name", None), "value", None)
            if operation is None or (wanted and name != wanted):
                continue
            if operation != OperationType.QUERY:
                return True
    return False


def upstream(request: Request) -> str:
    """The webserver's URL on loopback for the UI port of the app's settings."""
    return f"http://{UI_HOST}:{request.app.state.settings.ui_port}"


@router.api_route(
    PATH_PREFIX + "/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
)
async def dagster_ui(request: Request, path: str) -> Response:
    """Forward one request to the webserver, streaming its answer back."""
    body = await request.body()
    role = request.state.identity.role
    if request.method != "GET" and mutates(body) and role not in MUTATING_ROLES:
        return _refusal(
            403,
            f"role {role or 'none'} has the read-only Dagster UI: launching, deleting, wiping "
            "or terminating needs the operator role",
        )
    client: httpx.AsyncClient = request.app.state.dagster_proxy_client
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROPPED]
    outgoing = client.build_request(
        request.method,
        f"{upstream(request)}{PATH_PREFIX}/{path}",
        params=request.query_params.multi_items(),
        headers=headers,
        content=body,
    )
    try:
        answer = await client.send(outgoing, stream=True)
    except httpx.HTTPError:
        return _refusal(
            502, "the Dagster UI is not running on this host: start it with `market-spine up`"
        )

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in answer.aiter_raw():
            yield chunk

    kept = {k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED_BACK}
    return StreamingResponse(
        chunks(), answer.status_code, headers=kept, background=BackgroundTask(answer.aclose)
    )


def proxy_client() -> httpx.AsyncClient:
    """The client the proxy forwards with (no redirects followed: the browser follows them)."""
    return httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0), follow_redirects=False)
