"""The command line's calls to its own home's API: over HTTPS when the home serves TLS (the
certificate checked against the home's own `tls_cert`), and with the home's admin key only
once the listener on the API port has named this home's id on `/healthz`, so the key never
reaches whatever else listens there."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import httpx

from market_spine.security.bootstrap import admin_headers, served_home

if TYPE_CHECKING:
    from market_spine.settings import Settings


class HomeApiUnverified(Exception):
    """The listener on the API port answered TLS with a certificate that is not the home's; the
    message says which address and how to fix it."""


def api_base_url(settings: Settings) -> str:
    """`https://host:port` when the settings configure TLS, else `http://`; a wildcard bind
    address becomes loopback (`Settings.api_local_url`)."""
    return settings.api_local_url


def tls_verification(settings: Settings) -> ssl.SSLContext | bool:
    """How the command line checks the API's certificate: trusting the home's own certificate
    file (`tls_cert`; its leaf pinned, with any chain it holds) and checking the host name; the
    system's CAs when no TLS is configured (unused over http)."""
    if settings.tls_cert is None:
        return True
    context = ssl.create_default_context(cafile=str(settings.tls_cert))
    # The served leaf (or an intermediate in the file) is trusted as the anchor itself: no root
    # CA is needed, and the API must present this very certificate or one it signed.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def home_api_client(settings: Settings, timeout_s: float) -> httpx.Client | None:
    """A client of this home's API carrying the home's admin key, or None when nothing answers
    on the API port or what answers does not name this home on `/healthz` (then no key was
    sent). HomeApiUnverified when the answer comes over TLS with a certificate the home's
    `tls_cert` does not verify."""
    base = api_base_url(settings)
    client = httpx.Client(base_url=base, timeout=timeout_s, verify=tls_verification(settings))
    try:
        answer = client.get("/healthz")
        named = answer.json().get("home") if answer.status_code == 200 else None
    except httpx.ConnectError as exc:
        client.close()
        if isinstance(exc.__cause__, ssl.SSLCertVerificationError) or "CERTIFICATE" in str(exc):
            raise HomeApiUnverified(
                f"the API at {base} presented a certificate that MARKET_SPINE_TLS_CERT "
                f"({settings.tls_cert}) does not verify ({exc}): the home's key was not sent. "
                "Point MARKET_SPINE_TLS_CERT at the certificate the API serves, and make it name "
                f"the address called ({base.split('://')[1].rsplit(':', 1)[0]})"
            ) from None
        return None
    except (httpx.HTTPError, ValueError, AttributeError):
        client.close()
        return None
    if named != served_home(settings.home):
        client.close()
        return None
    client.headers.update(admin_headers(settings.home))
    return client


def ask(
    settings: Settings, path: str, params: dict[str, Any], timeout_s: float
) -> dict[str, Any] | None:
    """The JSON document `GET path?params` answers on this home's API (`/v1/status`,
    `/v1/gaps`: reports it computes where Dagster is already loaded), or None when the home's
    API does not answer it within `timeout_s` seconds, so the command computes it itself. A TLS
    certificate that does not verify is said on the console."""
    from market_spine.cli.console import console

    try:
        client = home_api_client(settings, timeout_s)
    except HomeApiUnverified as exc:
        console.print(f"{exc}; computing the report here", style="yellow", markup=False)
        return None
    if client is None:
        return None
    try:
        answer = client.get(path, params=params)
        data = answer.json() if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    finally:
        client.close()
    if not isinstance(data, dict) or data.get("home_id") != served_home(settings.home):
        return None  # another home's report
    return data
