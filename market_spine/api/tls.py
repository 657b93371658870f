"""HTTPS and WSS for the API: uvicorn's TLS options from the home's certificate and key
(`MARKET_SPINE_TLS_CERT` / `MARKET_SPINE_TLS_KEY`, PEM); none when they are not set."""

from __future__ import annotations

from typing import Any

from market_spine.settings import Settings


def tls_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` serving `settings`' certificate."""
    if settings.tls_cert is None or settings.tls_key is None:
        return {}
    return {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
