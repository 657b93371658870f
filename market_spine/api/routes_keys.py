"""`GET /v1/keys` and `DELETE /v1/keys/{key_id}` (admin): the home's API keys, never their
secrets, and revocation that applies at once in this API process (the command line's
`market-spine keys revoke` applies within the cache period). Keys are issued by the command
line only, so a secret never travels over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from market_spine.api.access import Access
from market_spine.api.errors import ApiError
from market_spine.errors import InvalidInput
from market_spine.security.keys import KeyStore

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get("", summary="The home's API keys (never their secrets)")
def list_keys(request: Request) -> dict[str, Any]:
    """Every key issued: id, name, role, dataset patterns, times (ISO 8601, UTC) and state."""
    now = datetime.now(UTC)
    records = KeyStore(request.app.state.settings.home).list()
    return {"keys": [r.as_json(now) for r in records]}


@router.delete("/{key_id}", summary="Revoke a key")
def revoke_key(request: Request, key_id: str) -> dict[str, Any]:
    """Revoke the key at once: this API refuses it from the next request on."""
    access: Access = request.app.state.access
    try:
        record = KeyStore(request.app.state.settings.home).revoke(key_id)
    except InvalidInput as exc:
        raise ApiError(404, str(exc), "key_id") from None
    if access.authenticator is not None:
        access.authenticator.forget(key_id)
    return record.as_json(datetime.now(UTC))
