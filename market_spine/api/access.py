"""Who may call which route: the one table mapping every route of the API to the role it needs
and the dataset it reads, the dependency that enforces it on every HTTP request, and the same
checks for the WebSocket, whose token comes in a subprotocol or the query.

A route missing from `ROUTES` is refused to everyone (and fails the route-walk test), so a new
route cannot ship open by accident.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

import anyio
from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.routing import APIWebSocketRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import Mount, WebSocketRoute

from market_spine.api.errors import ApiError
from market_spine.client import (
    BARS_1M,
    BARS_DAILY,
    OPTION_GREEKS,
    OPTION_QUOTES,
    ROLLS,
    VOL_SURFACE,
)
from market_spine.config.identity import os_user
from market_spine.errors import StateUnavailable
from market_spine.security.credentials import Authenticator, Refused
from market_spine.security.identity import ADMITTED, CLAIMED_ACTOR, Identity
from market_spine.security.keys import KeyStore
from market_spine.security.limits import RateLimiter, SubscriberCount, retry_after
from market_spine.security.roles import allows
from market_spine.settings import UI_PATH_PREFIX, Settings

#: The stream pushes the 5-second bars it lands and the 1-minute bars they close into.
STREAM_DATASET = "raw/futures_bars_5s"
#: Subprotocols a WebSocket client may offer: `bearer.<token>` carries the credential (browsers
#: cannot set headers), `market-spine` is the one the server selects when offered.
BEARER_PROTOCOL = "bearer."
APP_PROTOCOL = "market-spine"
REALM = 'Bearer realm="market-spine"'
#: What a browser is asked for on the Dagster UI: any user name, the API key as the password.
UI_REALM = 'Basic realm="market-spine: any user name, your API key as the password"'
#: The Dagster UI proxy's route and methods.
UI_ROUTE = UI_PATH_PREFIX + "/{path:path}"
UI_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
#: Credential checks (key derivation, key file, JWKS) run at most this many at once.
KDF_THREADS = 2
#: The strongest role whose routes keep to a tenant-bound identity's tenant: the routes of
#: stronger roles (status, gaps, cost, metrics, the Dagster UI, the audit trail, keys) show
#: every tenant's operations, so a tenant-bound identity is refused them whatever its role.
TENANT_ROLE = "quant"
#: Refused credentials a client address may present: a second, and in a burst.
FAILURE_RATE = (1.0, 10)


@dataclass(frozen=True)
class Rule:
    """What a route needs: `role` (None: public), and the dataset it reads, fixed (`dataset`)
    or named by a query parameter (`dataset_param`); dataset scopes are checked against it."""

    role: str | None
    dataset: str | None = None
    dataset_param: str | None = None
    #: Prefixed to the parameter's value to name the dataset (`clients` ->
    #: `normalized/company_clients`).
    dataset_prefix: str = ""


PUBLIC = Rule(None)

#: Every route of the API: (method, path template) -> the rule it is held to. `docs/security.md`
#: shows this table; a test checks the two agree and that every served route is in it.
ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): PUBLIC,
    # Without a credential, status only; the checks' detail needs the operator role.
    ("GET", "/readyz"): PUBLIC,
    # The API's description: no data, and the docs page is where a browser enters a key.
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/static-offline-docs"): PUBLIC,
    ("GET", "/v1/bars"): Rule("reader", BARS_1M),
    ("GET", "/v1/bars/daily"): Rule("reader", BARS_DAILY),
    ("GET", "/v1/bars/rolls"): Rule("reader", ROLLS),
    ("GET", "/v1/bars/held"): Rule("reader", BARS_1M),
    ("GET", "/v1/options/chain"): Rule("reader", OPTION_GREEKS),
    ("GET", "/v1/options/quotes"): Rule("reader", OPTION_QUOTES),
    ("GET", "/v1/options/surface"): Rule("quant", VOL_SURFACE),
    ("GET", "/v1/catalog"): Rule("reader"),
    ("GET", "/v1/catalog/{name:path}"): Rule("reader"),
    ("GET", "/v1/readiness"): Rule("reader"),
    ("WS", "/v1/stream/bars"): Rule("reader", STREAM_DATASET),
    ("GET", "/v1/revisions"): Rule("quant", dataset_param="dataset"),
    ("GET", "/v1/datasets/{name}"): Rule(
        "reader", dataset_param="name", dataset_prefix="normalized/company_"
    ),
    ("GET", "/v1/stream/status"): Rule("operator"),
    ("GET", "/v1/status"): Rule("operator"),
    ("GET", "/v1/gaps"): Rule("operator"),
    ("GET", "/v1/cost"): Rule("operator"),
    ("GET", "/metrics"): Rule("operator"),
    ("GET", "/v1/keys"): Rule("admin"),
    ("DELETE", "/v1/keys/{key_id}"): Rule("admin"),
    ("GET", "/v1/audit"): Rule("compliance"),
    # The browser pages: shells without data that read through the routes above with the
    # key the user gives them, and their scripts and vendored chart library.
    ("GET", "/ui/live"): PUBLIC,
    ("GET", "/ui/readiness"): PUBLIC,
    ("GET", "/ui/assets"): PUBLIC,
    # The Dagster UI (through its proxy): an operator's console.
    **{(method, UI_ROUTE): Rule("operator") for method in UI_METHODS},
}

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key (`msk_…`, from `market-spine keys create`) or a JWT of the "
    "configured OIDC issuer: `Authorization: Bearer <token>`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


@dataclass
class Access:
    """An app's authentication state: the authenticator (None with auth off), the request
    rate limiter and the WebSocket subscriber count."""

    settings: Settings
    authenticator: Authenticator | None
    rates: RateLimiter
    subscribers: SubscriberCount
    #: Refused credentials per client address: past its burst, an address is answered 429
    #: without a key derivation, so a flood of guesses cannot starve real users' checks.
    failures: RateLimiter = field(default_factory=lambda: RateLimiter(*FAILURE_RATE))
    _checks: anyio.CapacityLimiter | None = None

    @property
    def checks(self) -> anyio.CapacityLimiter:
        """Worker threads that may run key derivations at once (made on the event loop): a
        flood of wrong secrets queues here instead of taking every core."""
        if self._checks is None:
            self._checks = anyio.CapacityLimiter(KDF_THREADS)
        return self._checks

    @property
    def local(self) -> Identity:
        """The identity everyone acts as with authentication off."""
        return Identity(f"local:{os_user()}", "admin", ("*",), "local", pii=True)


def unauthorized(message: str, token_given: bool, realm: str = REALM) -> ApiError:
    """A 401 telling the client how to authenticate (`WWW-Authenticate` of `realm`)."""
    bearer = realm.startswith("Bearer")
    challenge = realm + (', error="invalid_token"' if token_given and bearer else "")
    return ApiError(401, message, headers={"WWW-Authenticate": challenge})


async def identify(
    access: Access, token: str | None, realm: str = REALM, client: str = "", state: Any = None
) -> Identity:
    """The identity of `token` (cached keys answer on the loop; the key derivation, key file
    and JWKS work run on a worker thread), or the 401/403/429 ApiError (401s challenge
    `realm`). A `client` address whose credentials keep failing is refused for a while before
    any derivation is spent on it; a refused key's id is left on `state` for the audit trail."""
    if access.authenticator is None:
        return access.local
    if not token:
        raise unauthorized(
            "authentication required: send `Authorization: Bearer <API key or JWT>`; an admin "
            "issues keys with `market-spine keys create --role reader`",
            False,
            realm,
        )
    found = access.authenticator.cached(token)
    if found is not None:
        return found
    wait = access.failures.waiting(client)
    if wait:
        raise ApiError(
            429,
            f"too many refused credentials from {client or 'this client'}: retry after "
            f"{retry_after(wait)} s with a valid key",
            headers={"Retry-After": retry_after(wait)},
        )
    try:
        return await anyio.to_thread.run_sync(
            access.authenticator.verify, token, limiter=access.checks
        )
    except Refused as exc:
        access.failures.take(client)
        if state is not None:
            setattr(state, CLAIMED_ACTOR, KeyStore.claimed(token))
        if exc.status == 403:
            raise ApiError(403, str(exc)) from None
        raise unauthorized(str(exc), True, realm) from None


def dataset_of(rule: Rule, params: Callable[[str], str | None]) -> str | None:
    """The dataset a request reads under `rule` (canonical name), None if it reads none or
    names an unknown one (the route then answers the 422 itself)."""
    if rule.dataset is not None:
        return rule.dataset
    if rule.dataset_param is None:
        return None
    raw = params(rule.dataset_param)
    if not raw:
        return None
    from market_spine.catalog.registry import CATALOG
    from market_spine.catalog.vocabulary import UnknownDataset

    try:
        return CATALOG.get(rule.dataset_prefix + raw).name
    except UnknownDataset:
        return None


def authorize(identity: Identity, rule: Rule, dataset: str | None, what: str) -> None:
    """403 when `identity` lacks the rule's role, is bound to a tenant on a route past
    TENANT_ROLE's, or `dataset` is outside its scope."""
    if rule.role is not None and not allows(identity.role, rule.role):
        raise ApiError(
            403,
            f"{what} needs the {rule.role} role; {identity.actor} has {identity.role}",
        )
    if identity.tenant is not None and rule.role is not None and not allows(TENANT_ROLE, rule.role):
        raise ApiError(
            403,
            f"{what} shows every tenant's operations; {identity.actor} is bound to tenant "
            f"{identity.tenant}: use a key bound to no tenant",
        )
    if dataset is not None and not identity.may_read(dataset):
        raise ApiError(
            403,
            f"{identity.actor} may not read {dataset}: its datasets are "
            f"{', '.join(identity.datasets)}",
            "dataset",
        )


async def guard(request: Request, credentials: Credentials) -> None:
    """The dependency every non-public route carries: authenticate, set
    `request.state.identity`, check role, dataset scope and rate."""
    token = None if credentials is None else credentials.credentials
    await admit(request, token, REALM)


async def ui_guard(request: Request) -> None:
    """The Dagster UI's guard: the key comes as a bearer token or as the password of HTTP
    Basic authentication (what a browser can send), and a 401 asks the browser for it."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token: str | None = None
    if scheme.lower() == "bearer":
        token = value.strip() or None
    elif scheme.lower() == "basic":
        try:
            token = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            token = None
        token = token or None
    await admit(request, token, UI_REALM)


def _address(connection: Request | WebSocket) -> str:
    """The client's address (the peer uvicorn saw)."""
    client = getattr(connection, "client", None)
    return client.host if client else ""


async def admit(request: Request, token: str | None, realm: str) -> None:
    """Authenticate `token`, set `request.state.identity`, then check the route's rule (role,
    dataset scope) and the identity's rate; ApiError otherwise."""
    access: Access = request.app.state.access
    route = getattr(request.scope.get("route"), "path", request.url.path)
    rule = ROUTES.get((request.method if request.method != "HEAD" else "GET", route))
    identity = await identify(access, token, realm, _address(request), request.state)
    request.state.identity = identity
    if rule is None:
        raise ApiError(403, f"{request.method} {route} is in no access rule: it is refused")
    dataset = dataset_of(
        rule, lambda name: request.query_params.get(name) or request.path_params.get(name)
    )
    authorize(identity, rule, dataset, f"{request.method} {route}")
    if access.authenticator is not None:
        wait = access.rates.take(identity.actor)
        if wait:
            raise ApiError(
                429,
                f"{identity.actor} is over {access.settings.api_rate_limit} requests a second: "
                f"retry after {retry_after(wait)} s",
                headers={"Retry-After": retry_after(wait)},
            )


async def optional_identity(request: Request, credentials: Credentials) -> Identity | None:
    """The caller's identity when it sent a valid credential (or auth is off), else None:
    for public routes that show more to those who may see it."""
    access: Access = request.app.state.access
    token = None if credentials is None else credentials.credentials
    if access.authenticator is not None and not token:
        return None
    try:
        identity = await identify(access, token, client=_address(request))
    except (ApiError, StateUnavailable):
        # A public route answers a caller whose key cannot be checked now as anyone (the
        # readiness probe above all, when the key store is the part that is down).
        return None
    request.state.identity = identity
    return identity


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """A browser's page may open the WebSocket only from the API's own origin or one the
    settings allow; clients that send no Origin (not browsers) are not held to it."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in settings.api_allowed_origins:
        return True
    host = websocket.headers.get("host", "")
    parts = urlsplit(origin)
    return bool(host) and parts.netloc == host and parts.scheme in ("http", "https")


def websocket_token(websocket: WebSocket) -> str | None:
    """The bearer token of a WebSocket: `Sec-WebSocket-Protocol: bearer.<token>` (what a
    browser can send), else `?token=`, else an `Authorization` header."""
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith(BEARER_PROTOCOL):
            return offered.removeprefix(BEARER_PROTOCOL)
    if websocket.query_params.get("token"):
        return websocket.query_params["token"]
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def admit_websocket(websocket: WebSocket, path: str) -> Identity | None:
    """Accept the WebSocket, then check origin, credential, role, scope and the identity's
    subscriber cap; on a refusal send `{"type": "error", ...}` and close with 4401 (no valid
    credential), 4403 (refused) or 4429 (too many subscribers), returning None. The caller
    must `release` an admitted identity when the socket ends."""
    access: Access = websocket.app.state.access
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=APP_PROTOCOL if APP_PROTOCOL in offered else None)
    try:
        if not origin_allowed(websocket, access.settings):
            origin = websocket.headers.get("origin")
            raise ApiError(
                403,
                f"origin {origin} may not open this WebSocket: add it to "
                "MARKET_SPINE_API_ALLOWED_ORIGINS",
            )
        identity = await identify(
            access, websocket_token(websocket), client=_address(websocket), state=websocket.state
        )
        websocket.state.identity = identity
        rule = ROUTES[("WS", path)]
        authorize(identity, rule, rule.dataset, f"WS {path}")
    except ApiError as exc:
        await _refuse(websocket, exc.status, exc.message, exc.field)
        return None
    if access.authenticator is not None and not access.subscribers.enter(identity.actor):
        cap = access.subscribers.cap
        message = f"{identity.actor} already holds {cap} WebSocket subscribers: close one first"
        await _refuse(websocket, 429, message, None)
        return None
    setattr(websocket.state, ADMITTED, True)
    return identity


def release(websocket: WebSocket, identity: Identity) -> None:
    """Count a closed WebSocket of `identity` out of its subscriber cap."""
    access: Access = websocket.app.state.access
    if access.authenticator is not None:
        access.subscribers.leave(identity.actor)


def served_routes(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    """Every (method, path template) the routes serve, WebSockets as method `WS`, mounts as
    `GET` of their path, through included routers at any depth."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if hasattr(route, "original_router"):  # a router included with its own context
            inner = prefix + route.include_context.prefix
            found |= served_routes(route.original_router.routes, inner)
        elif isinstance(route, Mount):
            found.add(("GET", prefix + route.path))
        elif isinstance(route, APIWebSocketRoute | WebSocketRoute):
            found.add(("WS", prefix + route.path))
        else:
            methods = set(getattr(route, "methods", None) or ()) - {"HEAD"}
            found |= {(m, prefix + route.path) for m in methods}
    return found


def unruled(app: FastAPI) -> set[tuple[str, str]]:
    """The routes of `app` that `ROUTES` has no rule for (must be empty)."""
    return served_routes(app.routes) - set(ROUTES)


async def _refuse(websocket: WebSocket, status: int, message: str, field: str | None) -> None:
    await websocket.send_json({"type": "error", "error": message, "field": field})
    await websocket.close(code=4000 + status)
