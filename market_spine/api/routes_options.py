"""`GET /v1/options/chain`, `/surface` and `/quotes`: a day's SPX/SPXW chain with implied vols
and greeks, its volatility surface summary, and its intraday quotes, as JSON, CSV or Arrow IPC,
bounded and paged by `paging.serve`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Query, Request, Response

from market_spine.api import params
from market_spine.api.errors import ApiError
from market_spine.api.formats import Format
from market_spine.api.paging import Answer, Limit, Offset, Page, by_values, serve
from market_spine.api.params import RESPONSES, AsCertified, AsOf, Flags, Fmt
from market_spine.client import OPTION_GREEKS, OPTION_QUOTES, VOL_SURFACE, Spine

router = APIRouter(prefix="/v1/options", tags=["options"])

Day = Annotated[str, Query(alias="date", description="Trade date, e.g. `2024-03-05`.")]
Expiration = Annotated[str | None, Query(description="One expiration, e.g. `2024-03-15`.")]


def _answer(
    request: Request,
    dataset: str,
    read: Callable[[Spine, int | None, str | None], pl.DataFrame],
    day: date,
    expiration: date | None,
    as_of: str | None,
    fmt: Format,
    page: Page,
    meta: dict[str, Any],
    as_certified: str | None = None,
) -> Response:
    """Resolve the version (by `as_of`, or by `as_certified`: what was certified by the end of
    that date, read through the Spine by date so rows carry their state then), then answer one
    bounded page of `read`."""
    spine: Spine = request.app.state.spine
    if not spine.lake.exists(dataset):
        raise ApiError(
            404,
            f"{dataset} has no data yet: run `market-spine process --date D --domain options`",
        )
    wanted = params.as_of(as_of)
    certified = params.certified_read(spine, dataset, as_certified, wanted)
    headers: dict[str, str] = {}
    if certified is not None:
        said, headers = params.left_out(spine, certified, {}, {"trade_date": (day, day)})
        meta = {**meta, "as_certified": as_certified, **said}
        version, pinned = certified.version, None
    else:
        version = params.version(spine.lake, dataset, wanted)
        pinned = None if wanted is None else version
        as_certified = None
    return serve(
        request,
        Answer(
            read=lambda: read(spine, pinned, as_certified),
            fmt=fmt,
            page=page,
            meta={**meta, "date": day.isoformat(), "as_of": as_of},
            version=version,
            narrower=None if expiration else by_values("expiration", "expiration"),
            why_empty=lambda: spine.empty_reason(dataset, None, day, None, expiration),
            headers=headers,
        ),
    )


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _expiration(raw: str | None) -> date | None:
    return None if raw is None else params.trade_date(raw, "expiration")


@router.get(
    "/chain",
    summary="EOD option chain with greeks",
    response_class=Response,
    responses=RESPONSES,
)
def chain(
    request: Request,
    day: Day,
    root: Annotated[
        str, Query(description="SPX (AM monthlies) or SPXW (PM weeklies, dailies).")
    ] = "SPXW",
    expiration: Expiration = None,
    fmt: Fmt = Format.json,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    as_certified: AsCertified = None,
    certified_only: Annotated[
        bool,
        Query(
            description="Refuse (409) a day that is not certified; rows say the day's state in "
            "`certification`, the answer in `X-Certification`."
        ),
    ] = False,
    flags: Flags = False,
) -> Response:
    """One row per contract: quotes, mid, implied vols (mid, bid, ask), delta, gamma, vega,
    theta, rho; `iv` is null with an `iv_reason` where no vol exists."""
    trade_date = params.trade_date(day, "date")
    option_root = params.option_root(root)
    expiry = _expiration(expiration)
    return _answer(
        request,
        OPTION_GREEKS,
        lambda spine, v, certified: spine.chain(
            option_root,
            trade_date,
            expiry,
            as_of=v,
            certified_only=certified_only,
            as_certified=certified,
            flags=flags,
        ),
        trade_date,
        expiry,
        as_of,
        fmt,
        Page(limit, offset),
        {"root": option_root, "expiration": _iso(expiry)},
        as_certified,
    )


@router.get(
    "/surface", summary="Volatility surface summary", response_class=Response, responses=RESPONSES
)
def surface(
    request: Request,
    day: Day,
    fmt: Fmt = Format.json,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
    as_certified: AsCertified = None,
) -> Response:
    """Per root and expiry: ATM implied vol, 25-delta risk reversal and butterfly."""
    trade_date = params.trade_date(day, "date")
    return _answer(
        request,
        VOL_SURFACE,
        lambda spine, v, certified: spine.surface(trade_date, as_of=v, as_certified=certified),
        trade_date,
        None,
        as_of,
        fmt,
        Page(limit, offset),
        {},
        as_certified,
    )


@router.get(
    "/quotes", summary="Intraday 1-minute SPXW quotes", response_class=Response, responses=RESPONSES
)
def quotes(
    request: Request,
    day: Day,
    expiration: Annotated[
        str | None, Query(description="One of the day's nearest expirations, e.g. `2024-03-05`.")
    ] = None,
    fmt: Fmt = Format.json,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
) -> Response:
    """One row per contract and minute (bid, ask and sizes, `ts` the minute's start in UTC),
    from the newest capture of each expiration. A whole day is over the JSON row cap: page it,
    pick an expiration, or ask format=arrow."""
    trade_date = params.trade_date(day, "date")
    expiry = _expiration(expiration)
    return _answer(
        request,
        OPTION_QUOTES,
        lambda spine, v, _: spine.quotes(trade_date, expiry, as_of=v),
        trade_date,
        expiry,
        as_of,
        fmt,
        Page(limit, offset),
        {"root": "SPXW", "expiration": _iso(expiry)},
    )
