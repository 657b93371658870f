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

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from market_spine.api.ui_operations import (
    RESERVED_TAG_PREFIX,
    Operation,
    mutates,
    operations_of,
    sets_reserved_tags,
    summary,
)
from market_spine.audit.entry import AUDIT_DETAIL
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
    return JSONResponse({"error": error, "field": None}, status_code=status)


def cross_site(request: Request) -> bool:
    """Whether a browser sent the request from another site's page (Fetch metadata, else the
    Origin against the host): a remembered Basic credential would ride along with it."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    if origin.rstrip("/") in request.app.state.settings.api_allowed_origins:
        return False
    return urlsplit(origin).netloc != request.headers.get("host", "")


def refusal_of(request: Request, operations: list[Operation], role: str) -> JSONResponse | None:
    """Why a GraphQL request may not reach the webserver, or None when it may."""
    if cross_site(request):
        return _refusal(
            403,
            "the Dagster UI's API answers only its own pages: a request from another site "
            "is refused (add the site to MARKET_SPINE_API_ALLOWED_ORIGINS if it is yours)",
        )
    if not mutates(operations):
        return None
    if role not in MUTATING_ROLES:
        return _refusal(
            403,
            f"role {role or 'none'} has the read-only Dagster UI: launching, deleting, wiping "
            "or terminating needs the operator role",
        )
    content_type = request.headers.get("content-type", "")
    if request.method != "POST" or not content_type.startswith("application/json"):
        return _refusal(
            405,
            "a change through the Dagster UI goes as a POST with a JSON body (the UI sends it "
            "so), never in the URL or another body type",
        )
    if "query" in request.query_params:
        return _refusal(405, "a change through the Dagster UI goes in the body, not the URL")
    if any(sets_reserved_tags(op) for op in operations):
        return _refusal(
            403,
            f"tags under {RESERVED_TAG_PREFIX} are set by the platform itself (who launched a "
            "run, from where): remove them from the launch",
        )
    return None


def upstream(request: Request) -> str:
    """The webserver's URL: loopback at the UI port, unless the settings name another
    (`ui_upstream`, where the webserver runs in a pod of its own)."""
    return request.app.state.settings.ui_upstream_url


@router.api_route(
    PATH_PREFIX + "/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
)
async def dagster_ui(request: Request, path: str) -> Response:
    """Forward one request to the webserver, streaming its answer back."""
    body = await request.body()
    if path.rstrip("/").endswith("graphql"):
        operations = operations_of(
            request.headers.get("content-type", ""), request.query_params.multi_items(), body
        )
        # The audit entry of this request says what it ran, under the key that ran it.
        setattr(request.state, AUDIT_DETAIL, {"graphql": summary(operations)})
        refused = refusal_of(request, operations, request.state.identity.role)
        if refused is not None:
            return refused
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
