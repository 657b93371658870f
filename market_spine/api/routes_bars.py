"""`GET /v1/bars` (1-minute bars) and `GET /v1/bars/daily`: a symbol's bars over a range of trade
dates or timestamps, optionally as of a past table version, as JSON, CSV or Arrow IPC.

Parameters are validated here one by one, so each error names the parameter at fault; the read
itself goes through the app's one `Spine`, whose table index stays warm across requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import polars as pl
from deltalake.exceptions import DeltaError
from fastapi import APIRouter, Query, Request, Response

from market_spine.api.errors import ApiError, ErrorBody
from market_spine.api.formats import MEDIA_TYPES, Format, render
from market_spine.client import BARS_1M, BARS_DAILY, Spine
from market_spine.errors import InvalidDate, InvalidInput, InvalidRange, UnknownSymbol
from market_spine.lake import Lake
from market_spine.lake.store import parse_as_of as lake_parse_as_of
from market_spine.markets import calendars
from market_spine.markets.dates import FORMS, parse_point, parse_range
from market_spine.markets.instruments import get_instrument

router = APIRouter(prefix="/v1/bars", tags=["bars"])

#: One request serves at most a month of minute bars; bulk reads belong in Spine or SQL, which
#: stream from the lake without holding a whole response in the server's memory.
MAX_TRADE_DAYS = 31
MAX_ROWS = 50_000
AS_OF_HINT = (
    "pass a table version number like 3 or an ISO timestamp with zone like 2024-03-05T21:00:00Z"
)
BULK_HINT = "narrow the range, or read bulk data with `Spine().bars(...)` or `Spine().sql(...)`"

Point = date | datetime

#: A time followed by " HH:MM": the "+" of a UTC offset that arrived unencoded in a query
#: string, where it decodes to a space.
_MANGLED_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def restore_plus(text: str) -> str:
    """Undo the space a URL makes of the `+` in `2024-03-05T14:30:00+00:00`."""
    return _MANGLED_OFFSET.sub(r"\1+\2", text.strip())


@dataclass(frozen=True)
class BarsQuery:
    """Validated parameters of a bars request."""

    root: str
    start: Point
    end: Point
    as_of: int | datetime | None


def iso(value: Point | None) -> str | None:
    """A date as `YYYY-MM-DD`, a timestamp as ISO-8601 UTC with `Z`."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None if value is None else value.isoformat()


def parse_as_of(raw: str | None) -> int | datetime | None:
    """A Delta version number (`3`) or an ISO timestamp with a zone (`2024-03-05T21:00:00Z`)."""
    if raw is None or raw.strip() == "":
        return None
    text = restore_plus(raw)
    if len(text) <= 10 and not text.isdigit():
        raise ApiError(422, f"as_of {raw!r} has no time and zone: {AS_OF_HINT}", "as_of")
    try:
        return lake_parse_as_of(text)
    except InvalidInput as exc:
        raise ApiError(422, f"{exc}: {AS_OF_HINT}", "as_of") from None


def parse_query(symbol: str, start: str, end: str | None, as_of: str | None) -> BarsQuery:
    """Validate every parameter, raising a 422 ApiError that names the first bad one."""
    try:
        root = get_instrument(symbol).root
    except UnknownSymbol as exc:
        raise ApiError(422, str(exc), "symbol") from None
    points: dict[str, Point] = {}
    for name, value in (("start", start), ("end", end)):
        if value is None:
            continue
        try:
            points[name] = parse_point(restore_plus(value), name)
        except InvalidDate as exc:
            raise ApiError(422, str(exc), name) from None
    try:
        lo, hi = parse_range(points["start"], points.get("end"))
    except InvalidRange as exc:
        raise ApiError(422, str(exc), "end") from None
    if isinstance(lo, datetime) and hi == lo:
        raise ApiError(
            422,
            "a timestamp range is [start, end) and this one is empty: pass an end after start, "
            f"or pass whole trade dates ({FORMS})",
            "end",
        )
    return BarsQuery(root, lo, hi, parse_as_of(as_of))


def trade_day_span(q: BarsQuery) -> tuple[date, date]:
    """The trade dates a query can touch (for timestamps, the UTC dates of its bounds)."""
    if isinstance(q.start, datetime) and isinstance(q.end, datetime):
        return q.start.astimezone(UTC).date(), (q.end - timedelta(microseconds=1)).astimezone(
            UTC
        ).date()
    assert isinstance(q.start, date) and isinstance(q.end, date)
    return q.start, q.end


def check_width(q: BarsQuery) -> None:
    """Refuse more than MAX_TRADE_DAYS sessions of minute bars before reading anything."""
    lo, hi = trade_day_span(q)
    # Two calendar days per trade day is always more than the cap; it spares the calendar a
    # request spanning centuries.
    if (hi - lo).days > 2 * MAX_TRADE_DAYS:
        count = f"more than {MAX_TRADE_DAYS}"
    else:
        days = len(calendars.trading_days(q.root, lo, hi))
        if days <= MAX_TRADE_DAYS:
            return
        count = str(days)
    raise ApiError(
        422,
        f"{iso(q.start)}..{iso(q.end)} covers {count} trade days of minute bars; one request may "
        f"cover at most {MAX_TRADE_DAYS} (or {MAX_ROWS:,} rows): {BULK_HINT}",
        "end",
    )


def resolve_version(lake: Lake, dataset: str, as_of: int | datetime | None) -> int:
    """The table version a read will see; a version or time the table never had is a 422."""
    if as_of is None:
        latest = lake.version(dataset)
        assert latest is not None
        return latest
    try:
        return lake.resolve_version(dataset, as_of)
    except InvalidInput as exc:
        raise ApiError(422, str(exc), "as_of") from None


def read(spine: Spine, dataset: str, q: BarsQuery, version: int) -> pl.DataFrame:
    """Read through the Spine; a past version whose files are gone is the caller's 422."""
    as_of = None if q.as_of is None else version
    try:
        if dataset == BARS_DAILY:
            return spine.daily(q.root, q.start, q.end, as_of=as_of)
        return spine.bars(q.root, q.start, q.end, as_of=as_of)
    except (DeltaError, FileNotFoundError) as exc:
        if as_of is None:
            raise
        raise ApiError(
            422,
            f"version {version} of {dataset} can no longer be read ({exc}): pass a later as_of",
            "as_of",
        ) from None


def serve(
    request: Request,
    dataset: str,
    symbol: str,
    start: str,
    end: str | None,
    fmt: Format,
    as_of: str | None,
) -> Response:
    """Validate, check the size, read and render one bars request."""
    q = parse_query(symbol, start, end, as_of)
    if dataset == BARS_1M:
        check_width(q)
    spine: Spine = request.app.state.spine
    if not spine.lake.exists(dataset):
        raise ApiError(
            404,
            f"{dataset} has no data yet: run "
            "`market-spine process --start D1 --end D2` to materialize it",
        )
    version = resolve_version(spine.lake, dataset, q.as_of)
    frame = read(spine, dataset, q, version)
    if frame.height > MAX_ROWS:
        raise ApiError(
            422,
            f"the range holds {frame.height:,} rows, over the {MAX_ROWS:,} cap: {BULK_HINT}",
            "end",
        )
    as_of_echo: Any = iso(q.as_of) if isinstance(q.as_of, datetime) else q.as_of
    meta = {
        "symbol": q.root,
        "start": iso(q.start),
        "end": iso(q.end),
        "as_of": as_of_echo,
        "version": version,
    }
    body, media_type = render(frame, fmt, meta)
    headers = {"X-Rows": str(frame.height), "X-Delta-Version": str(version)}
    return Response(body, media_type=media_type, headers=headers)


# -- parameters, declared once for both endpoints -----------------------------------------------

Symbol = Annotated[str, Query(description="Futures root.", examples=["CL"])]
Start = Annotated[
    str,
    Query(
        description="A trade date (`2024-03-05`, `20240305`; whole sessions, inclusive) or an ISO "
        "UTC timestamp (`2024-03-05T14:30:00Z`; bar opens in [start, end)).",
        examples=["2024-03-05"],
    ),
]
End = Annotated[
    str | None,
    Query(
        description="Same forms as start; defaults to start (one trade date).",
        examples=["2024-03-06"],
    ),
]
AsOf = Annotated[
    str | None,
    Query(description="Read the table as of a Delta version number or an ISO timestamp with zone."),
]
Fmt = Annotated[Format, Query(alias="format", description="json, csv or arrow (Arrow IPC stream).")]

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The bars; the `X-Rows` and `X-Delta-Version` headers give the row "
        "count and the table version read.",
        "content": {MEDIA_TYPES[f]: {} for f in Format},
    },
    404: {"model": ErrorBody, "description": "The dataset has not been materialized yet."},
    422: {"model": ErrorBody, "description": "A parameter is invalid; `field` names it."},
}


@router.get("", summary="1-minute bars", response_class=Response, responses=RESPONSES)
def bars(
    request: Request,
    symbol: Symbol,
    start: Start,
    end: End = None,
    fmt: Fmt = Format.json,
    as_of: AsOf = None,
) -> Response:
    """1-minute bars of a futures root (`ts` is the bar's open, UTC). At most 31 trade days."""
    return serve(request, BARS_1M, symbol, start, end, fmt, as_of)


@router.get("/daily", summary="Daily bars", response_class=Response, responses=RESPONSES)
def daily(
    request: Request,
    symbol: Symbol,
    start: Start,
    end: End = None,
    fmt: Fmt = Format.json,
    as_of: AsOf = None,
) -> Response:
    """Daily bars of a futures root for trade dates [start, end]."""
    return serve(request, BARS_DAILY, symbol, start, end, fmt, as_of)
