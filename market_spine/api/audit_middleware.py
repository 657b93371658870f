"""Every HTTP request and WebSocket subscription the API serves, recorded in the home's audit
trail: who (the identity authentication put on `request.state.identity`, else `anonymous`),
the route and its parameters (credential-like ones masked), the datasets it read, and the
outcome (the HTTP status; `accepted` or `refused` for a WebSocket subscription). The liveness and
readiness probes are not recorded: they read no data and are polled every few seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from market_spine.api.server import OUTCOME_STATE
from market_spine.audit.entry import ANONYMOUS, AUDIT_DETAIL
from market_spine.audit.reads import request_served, serving_request
from market_spine.audit.recorder import recorder
from market_spine.config.secrets import MASK, is_secret_name
from market_spine.security.identity import ADMITTED, CLAIMED_ACTOR

#: Paths served without an entry.
UNRECORDED = frozenset({"/healthz", "/readyz"})


def actor_of(scope: Scope) -> str:
    """The actor of a request: its identity's `actor` when authentication set one."""
    identity = (scope.get("state") or {}).get("identity")
    actor = getattr(identity, "actor", None)
    return str(actor) if actor else ANONYMOUS


def params_of(scope: Scope) -> dict[str, Any]:
    """The route template, path parameters and query parameters of a request (a repeated query
    parameter as a list; credential-like ones masked)."""
    query: dict[str, Any] = {}
    raw = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(raw, keep_blank_values=True):
        shown = MASK if is_secret_name(key) else value
        if key in query:
            held = query[key]
            query[key] = [*held, shown] if isinstance(held, list) else [held, shown]
        else:
            query[key] = shown
    route = scope.get("route")
    params: dict[str, Any] = {"path": scope["path"], "query": query}
    if route is not None and getattr(route, "path", None):
        params["route"] = route.path
    if scope.get("path_params"):
        params["path_params"] = scope["path_params"]
    state = scope.get("state") or {}
    if state.get(AUDIT_DETAIL):
        params.update(state[AUDIT_DETAIL])
    if state.get(CLAIMED_ACTOR):  # a refused credential: the key it claimed to be
        params["claimed"] = state[CLAIMED_ACTOR]
    return params


class AuditMiddleware:
    """Pure ASGI middleware (no body buffering): one entry per request, queued after the
    response starts so it never delays an answer."""

    def __init__(self, app: ASGIApp, home: Path) -> None:
        self.app = app
        self.recorder = recorder(home)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in UNRECORDED:
            await self.app(scope, receive, send)
            return
        datasets, token = serving_request()
        outcome = {"status": "500", "recorded": False}
        websocket = scope["type"] == "websocket"

        def entry(result: str) -> None:
            outcome["recorded"] = True
            action = "ws.subscribe" if websocket else f"http.{scope['method'].lower()}"
            self.recorder.record(
                actor_of(scope), action, ",".join(sorted(datasets)), params_of(scope), result
            )

        async def sending(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                outcome["status"] = str(message["status"])
            elif websocket and not outcome["recorded"] and kind != "websocket.accept":
                # A socket is accepted before its credential is checked (so a refusal can be
                # explained): it counts as subscribed once authentication admitted it.
                if (scope.get("state") or {}).get(ADMITTED):
                    entry("accepted")
                elif kind == "websocket.close":
                    entry(f"refused {message.get('code', 1000)}")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            request_served(token)
            if not outcome["recorded"]:
                # A request that ended without an answer says why (e.g. `client-closed`).
                forced = (scope.get("state") or {}).get(OUTCOME_STATE)
                entry("refused" if websocket else forced or str(outcome["status"]))
