"""`GET /v1/options/chain`, `/surface` and `/quotes`: a day's SPX/SPXW chain with implied vols
and greeks, and its volatility surface summary, as JSON, CSV or Arrow IPC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import polars as pl
from fastapi import APIRouter, Query, Request, Response

from market_spine.api.errors import ApiError
from market_spine.api.formats import Format, render
from market_spine.client import Spine
from market_spine.errors import InvalidInput

router = APIRouter(prefix="/v1/options", tags=["options"])

Day = Annotated[str, Query(alias="date", description="Trade date, e.g. `2024-03-05`.")]
Fmt = Annotated[Format, Query(alias="format", description="json, csv or arrow.")]


def _respond(frame: pl.DataFrame, fmt: Format, meta: dict[str, object]) -> Response:
    body, media_type = render(frame, fmt, meta)
    return Response(body, media_type=media_type, headers={"X-Rows": str(frame.height)})


def _call(field: str, fn: Callable[..., pl.DataFrame], *args: object) -> pl.DataFrame:
    """Run a Spine read, naming the parameter at fault when the input is rejected."""
    try:
        return fn(*args)
    except InvalidInput as exc:
        raise ApiError(422, str(exc), field) from None


@router.get("/chain", summary="EOD option chain with greeks", response_class=Response)
def chain(
    request: Request,
    day: Day,
    root: Annotated[
        str, Query(description="SPX (AM monthlies) or SPXW (PM weeklies, dailies).")
    ] = "SPXW",
    expiration: Annotated[
        str | None, Query(description="One expiration, e.g. `2024-03-15`.")
    ] = None,
    fmt: Fmt = Format.json,
) -> Response:
    """One row per contract: quotes, mid, implied vols (mid, bid, ask), delta, gamma, vega,
    theta, rho; `iv` is null with an `iv_reason` where no vol exists."""
    spine: Spine = request.app.state.spine
    field = "expiration" if expiration else "date"
    frame = _call(field, spine.chain, root, day, expiration)
    return _respond(frame, fmt, {"root": root.upper(), "date": day, "expiration": expiration})


@router.get("/surface", summary="Volatility surface summary", response_class=Response)
def surface(request: Request, day: Day, fmt: Fmt = Format.json) -> Response:
    """Per root and expiry: ATM implied vol, 25-delta risk reversal and butterfly."""
    spine: Spine = request.app.state.spine
    frame = _call("date", spine.surface, day)
    return _respond(frame, fmt, {"date": day})


@router.get("/quotes", summary="Intraday 1-minute SPXW quotes", response_class=Response)
def quotes(
    request: Request,
    day: Day,
    expiration: Annotated[
        str | None, Query(description="One of the day's nearest expirations, e.g. `2024-03-05`.")
    ] = None,
    fmt: Fmt = Format.json,
) -> Response:
    """One row per contract and minute (bid, ask and sizes, `ts` the minute's start in UTC),
    from the newest capture of each expiration."""
    spine: Spine = request.app.state.spine
    field = "expiration" if expiration else "date"
    frame = _call(field, spine.quotes, day, expiration)
    return _respond(frame, fmt, {"root": "SPXW", "date": day, "expiration": expiration})
