"""Asking the home's own API for a report it computes where Dagster is already loaded and the
instance open (`/v1/status`, `/v1/gaps`), so a command answers without loading Dagster itself.
The answer counts only when it comes from this home's API (its `home_id`); anything else —
nothing listening, another home's API, an error — is None, and the command computes the report
itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from market_spine.settings import Settings


def ask(
    settings: Settings, path: str, params: dict[str, Any], timeout_s: float
) -> dict[str, Any] | None:
    """The JSON document `GET path?params` answers on the home's API (with the home's admin
    key), or None when this home's API does not answer it within `timeout_s` seconds."""
    import httpx

    from market_spine.operations.status_report import home_id
    from market_spine.security.bootstrap import admin_headers

    url = f"http://{settings.api_host}:{settings.api_port}{path}"
    try:
        # The home's own admin key (made by `up`): the API asks every caller for a credential.
        headers = admin_headers(settings.home)
        answer = httpx.get(url, params=params, headers=headers, timeout=timeout_s)
        data = answer.json() if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("home_id") != home_id(settings.home):
        return None  # another home's API on this port, or not our API at all
    return data
