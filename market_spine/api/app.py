"""`create_app`: the FastAPI application of one Market Spine home."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from market_spine.api import (
    access,
    dagster_proxy,
    metrics,
    routes_audit,
    routes_bars,
    routes_catalog,
    routes_cost,
    routes_datasets,
    routes_gaps,
    routes_health,
    routes_keys,
    routes_options,
    routes_readiness,
    routes_revisions,
    routes_status,
    routes_stream,
    routes_ui,
)
from market_spine.api.audit_middleware import AuditMiddleware
from market_spine.api.errors import install_error_handlers
from market_spine.api.load_status import LoadStatus
from market_spine.api.paging import ReadSlots
from market_spine.api.query_names import refuse_unknown
from market_spine.api.server import BodyDeadline, BodyLimit
from market_spine.catalog.listing import CatalogCache
from market_spine.client import Spine
from market_spine.home import existing_instance
from market_spine.observability.ledger import ledger_database
from market_spine.operations.metrics import HomeMetrics
from market_spine.security.bootstrap import served_home
from market_spine.security.credentials import Authenticator
from market_spine.security.jwt import JwtVerifier, OidcConfig
from market_spine.security.keys import KeyStore
from market_spine.security.limits import RateLimiter, SubscriberCount
from market_spine.settings import Settings
from market_spine.streaming.hub import BarHub
from market_spine.version import package_version

log = logging.getLogger("market_spine.api")


def asset_paths() -> list[list[str]]:
    """The asset key path of every catalogued dataset (lake tables and dbt models)."""
    from market_spine.catalog.registry import CATALOG

    return [spec.asset_path for spec in CATALOG]


def model_paths() -> list[list[str]]:
    """The asset key path of every warehouse (dbt) model in the catalog."""
    from market_spine.catalog.registry import CATALOG

    return [spec.asset_path for spec in CATALOG if spec.kind == "dbt"]


def build_access(settings: Settings) -> access.Access:
    """The app's authentication: keys of the home's key file and, when an issuer is set,
    its JWTs; none with auth off (which says so loudly)."""
    authenticator = None
    if settings.auth == "off":
        log.warning(
            "AUTHENTICATION IS OFF (MARKET_SPINE_AUTH=off): anyone who reaches this API reads "
            "everything as admin. Use it for local development only."
        )
    else:
        verifier = None
        if settings.oidc_issuer:
            verifier = JwtVerifier(
                OidcConfig(
                    settings.oidc_issuer,
                    settings.oidc_audience,
                    settings.oidc_jwks_url or None,
                    settings.oidc_role_claim,
                    settings.oidc_datasets_claim,
                )
            )
        authenticator = Authenticator(KeyStore(settings.home), verifier)
    return access.Access(
        settings,
        authenticator,
        RateLimiter(settings.api_rate_limit, 2 * settings.api_rate_limit),
        SubscriberCount(settings.api_ws_per_key),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app serving one home's lake; `settings` default to the `MARKET_SPINE_*` environment."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.catalog.start()
        app.state.dagster_proxy_client = dagster_proxy.proxy_client()
        app.state.home_metrics.warm_in_background()
        yield
        await app.state.dagster_proxy_client.aclose()
        app.state.catalog.stop()

    # The docs pages load Swagger UI and ReDoc from files the fastapi-offline package ships,
    # so they work with no network.
    app: FastAPI = FastAPIOffline(
        title="Market Spine",
        version=package_version(),
        description=(
            "Read API over the Market Spine lake: futures bars, option chains with greeks, "
            "intraday option quotes and the volatility surface as JSON, CSV or Arrow IPC; the "
            "dataset "
            "catalog; real-time bars over a WebSocket when `market-spine stream` serves it.\n\n"
            "Every route but `/healthz` and `/readyz` needs `Authorization: Bearer <token>`: an "
            "API key from `market-spine keys create --role reader` or a JWT of the configured "
            "OIDC issuer (Authorize, above). The WebSocket takes the token as the subprotocol "
            "`bearer.<token>` or `?token=`. 401: no valid credential; 403: the role or the "
            "key's datasets do not allow the read; 429: over the key's rate (see Retry-After)."
        ),
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.home_id = served_home(settings.home)
    # One Spine per app, so its lake snapshots and Parquet footers stay cached between requests.
    app.state.spine = Spine(settings=settings, warn_empty=False)
    app.state.read_slots = ReadSlots(settings.api_read_slots)
    app.state.catalog = CatalogCache(settings, partial(existing_instance, settings))
    app.state.loads = LoadStatus(partial(existing_instance, settings), asset_paths, model_paths)
    app.state.status = routes_status.StatusCache(settings, partial(existing_instance, settings))
    app.state.gaps = routes_gaps.GapsService(settings, partial(existing_instance, settings))
    app.state.home_metrics = HomeMetrics(settings, partial(existing_instance, settings))
    app.state.metrics = metrics.Metrics(
        hub=lambda: app.state.hub,
        home=app.state.home_metrics,
        ledger=ledger_database(settings.home),
    )
    # Streaming is attached by `market-spine stream`; the hub fans its bars out to WebSockets.
    app.state.hub = BarHub()
    app.state.streamer = None
    app.state.access = build_access(settings)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(BodyDeadline, timeout_s=float(settings.api_body_timeout_s))
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(AuditMiddleware, home=settings.home)
    install_error_handlers(app)
    # Every router but health's carries the guard; the WebSocket checks its own credential
    # (`access.admit_websocket`), since browsers cannot send headers with it.
    guarded = [Depends(access.guard)]
    # Data routes also refuse query parameters they do not take, after the caller is known.
    reads = [*guarded, Depends(refuse_unknown)]
    data_routers = (
        routes_bars.router,
        routes_options.router,
        routes_catalog.router,
        routes_revisions.router,
        routes_datasets.router,
        routes_readiness.router,
        routes_stream.router,
        routes_status.router,
        routes_gaps.router,
        routes_cost.router,
        routes_keys.router,
        routes_audit.router,
    )
    for router in data_routers:
        app.include_router(router, dependencies=reads)
    app.include_router(routes_stream.sockets)
    app.include_router(routes_health.router)
    # A scraper's parameters are its own business: the metrics route is guarded only.
    app.include_router(metrics.router, dependencies=guarded)
    # The UI is opened in a browser, which cannot add a bearer header: it also takes the key
    # as the password of HTTP Basic authentication, and asks for it.
    app.include_router(dagster_proxy.router, dependencies=[Depends(access.ui_guard)])
    # The browser pages hold no data and read through the guarded routes with the user's key;
    # a link's misspelt pick (`?symbl=ES`) is refused as a data route's would be.
    app.include_router(routes_ui.router, dependencies=[Depends(refuse_unknown)])
    app.mount(routes_ui.ASSETS_PATH, routes_ui.assets(), name="ui-assets")
    missing = access.unruled(app)
    if missing:
        raise RuntimeError(f"routes without an access rule: {sorted(missing)}")
    return app
