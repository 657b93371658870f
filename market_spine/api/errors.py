"""Exception handlers that turn every error into `{"error": ..., "field": ...}` JSON, so a caller
always learns what was wrong and how to fix it, and never sees a traceback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from market_spine.errors import (
    AccessRefused,
    InstanceUnavailable,
    InvalidDate,
    InvalidInput,
    InvalidRange,
    LakeDamaged,
    LakeError,
    LakeRefused,
    LakeUnreachable,
    NotCertified,
    NotMaterialized,
    StateUnavailable,
    UnknownSymbol,
)
from market_spine.settings import Settings

log = logging.getLogger("market_spine.api")

#: Where the package is installed (the repository, in development).
INSTALL = Path(__file__).resolve().parents[2]

EXAMPLE = "?symbol=CL&start=2024-03-05"
#: The example query of a route whose required parameters are not the bars' (EXAMPLE), so a
#: missing-parameter answer shows the very parameter it asks for.
EXAMPLES = {
    "/v1/revisions": "?dataset=normalized/futures_bars_1m&since=3",
    "/v1/options/chain": "?date=2024-03-05&root=SPXW",
    "/v1/options/surface": "?date=2024-03-05",
    "/v1/options/quotes": "?date=2024-03-05",
    "/v1/bars/held": "?symbol=ES.c.0&day=2024-03-05",
}


class ApiError(Exception):
    """An error a route raises on purpose: its HTTP status, message, the parameter at fault and
    any headers the answer needs (`WWW-Authenticate`, `Retry-After`)."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}


def error_response(
    status: int, message: str, field: str | None = None, request: Request | None = None
) -> JSONResponse:
    """The one error body shape of the API; server paths in the message are hidden."""
    if request is not None:
        message = redact(message, request.app.state.settings)
    return JSONResponse({"error": message, "field": field}, status_code=status)


def redact(message: str, settings: Settings) -> str:
    """`message` with the server's own paths (its home, the lake's real folder, the install)
    replaced by names a caller can use: an error body never reveals the server's layout."""
    lake = settings.lake_root
    roots = [
        (lake.resolve(), "$MARKET_SPINE_HOME/lake"),
        (lake, "$MARKET_SPINE_HOME/lake"),
        (settings.home.resolve(), "$MARKET_SPINE_HOME"),
        (settings.home, "$MARKET_SPINE_HOME"),
        (INSTALL, "<market-spine>"),
    ]
    for path, name in sorted(roots, key=lambda r: -len(str(r[0]))):
        message = message.replace(str(path), name)
    if settings.lake_uri:
        message = message.replace(settings.lake_uri, "$MARKET_SPINE_LAKE_URI")
    return message


def field_of(exc: InvalidInput) -> str | None:
    """The query parameter an InvalidInput from the library most likely refers to."""
    if isinstance(exc, UnknownSymbol):
        return "symbol"
    if isinstance(exc, InvalidRange):
        return "end"
    if isinstance(exc, InvalidDate):
        # timeparse names the parameter first: "start '2024-13-01' is not a date ...".
        return "end" if str(exc).startswith("end") else "start"
    if "as_of" in str(exc):
        return "as_of"
    return None


def _validation_message(err: dict[str, Any], path: str) -> tuple[str, str | None]:
    loc = [str(part) for part in err.get("loc", ()) if part not in ("query", "body", "path")]
    field = loc[-1] if loc else None
    if err.get("type") == "missing":
        example = EXAMPLES.get(path.rstrip("/"), EXAMPLE)
        return f"missing required query parameter {field!r}: e.g. {path}{example}", field
    return f"{field}={err.get('input')!r} is invalid: {err.get('msg', 'bad value')}", field


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = error_response(exc.status, exc.message, exc.field, request)
    response.headers.update(exc.headers)
    return response


async def _on_invalid_input(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInput)
    return error_response(422, str(exc), field_of(exc), request)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if not errors:
        return error_response(422, "invalid request", None, request)
    # Report the first problem only: one clear fix beats a list of pydantic internals.
    message, field = _validation_message(errors[0], request.url.path)
    return error_response(422, message, field, request)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}: see /docs for the endpoints"
    else:
        message = str(exc.detail)
    response = error_response(exc.status_code, message, None, request)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _on_lake_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("lake read failed on %s: %s", request.url.path, exc)
    return error_response(500, f"the lake could not be read: {exc}", None, request)


async def _on_lake_damaged(request: Request, exc: Exception) -> JSONResponse:
    # 503: the data exists but cannot be served until an operator repairs it; the message
    # names the dataset, the partition and the repair command.
    assert isinstance(exc, LakeDamaged)
    log.error("damaged lake data on %s: %s", request.url.path, exc)
    return error_response(503, str(exc), None, request)


def _unavailable(request: Request, exc: Exception, what: str) -> JSONResponse:
    """503 for a part the platform cannot reach (`what`): its cause names settings and
    addresses, for the server log and the operator's /readyz, not for every caller; nothing
    is wrong with the data and the caller can do nothing about it."""
    log.error("%s is unavailable on %s: %s", what, request.url.path, exc)
    return error_response(
        503,
        f"{what} is unavailable: an operator sees why in /readyz and the server log",
        None,
        request,
    )


async def _on_lake_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The store did not answer, or refused the credentials.
    return _unavailable(request, exc, "the lake")


async def _on_instance_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return _unavailable(request, exc, "the Dagster instance")


async def _on_state_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return _unavailable(request, exc, "the platform's state database")


async def _on_access_refused(request: Request, exc: Exception) -> JSONResponse:
    return error_response(403, str(exc), None, request)


async def _on_not_certified(request: Request, exc: Exception) -> JSONResponse:
    return error_response(409, str(exc), "certified_only", request)


async def _on_not_materialized(request: Request, exc: Exception) -> JSONResponse:
    return error_response(404, str(exc), None, request)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the server log, never to the caller.
    log.exception("unhandled error on %s", request.url.path)
    return error_response(500, "internal error: the server log has the details", None, request)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; RequestValidationError is replaced so missing or malformed
    parameters get the same body shape as every other error."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(InvalidInput, _on_invalid_input)
    app.add_exception_handler(AccessRefused, _on_access_refused)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(LakeError, _on_lake_error)
    app.add_exception_handler(LakeUnreachable, _on_lake_unavailable)
    app.add_exception_handler(LakeRefused, _on_lake_unavailable)
    app.add_exception_handler(LakeDamaged, _on_lake_damaged)
    app.add_exception_handler(NotMaterialized, _on_not_materialized)
    app.add_exception_handler(NotCertified, _on_not_certified)
    app.add_exception_handler(InstanceUnavailable, _on_instance_unavailable)
    app.add_exception_handler(StateUnavailable, _on_state_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)


class ErrorBody(BaseModel):
    """The body of every 4xx/5xx answer, documented in OpenAPI."""

    error: str
    field: str | None = None
