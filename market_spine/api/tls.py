"""HTTPS and WSS for the API: uvicorn's TLS options from the home's certificate and key
(`MARKET_SPINE_TLS_CERT` / `MARKET_SPINE_TLS_KEY`, PEM); none when they are not set. A private
key other users may read is refused under the prod profile and warned about otherwise."""

from __future__ import annotations

import logging
import stat
from typing import Any

from market_spine.errors import InvalidInput
from market_spine.settings import Settings

log = logging.getLogger("market_spine.api")


def check_key_private(settings: Settings) -> None:
    """Warn (log) when the TLS private key file is readable or writable by its group or other
    users; under the prod profile raise InvalidInput instead."""
    if settings.tls_key is None:
        return
    mode = stat.S_IMODE(settings.tls_key.stat().st_mode)
    if not mode & 0o077:
        return
    message = (
        f"the TLS private key {settings.tls_key} has mode {mode:04o}: other users of this "
        f"machine may read it; make it private with `chmod 600 {settings.tls_key}`"
    )
    if settings.profile == "prod":
        raise InvalidInput(message)
    log.warning(message)


def tls_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` serving `settings`' certificate
    (after `check_key_private`)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return {}
    check_key_private(settings)
    return {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
