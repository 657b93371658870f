"""`GET /v1/bars` (1-minute bars) and `GET /v1/bars/daily`: a root's or a continuous series' bars
(`CL.c.0`, back-adjusted with `adjust`) over a range of trade dates or timestamps, optionally as
of a past table version, as JSON, CSV or Arrow IPC; `GET /v1/bars/rolls`: the roll table.

Parameters are parsed one by one (`params`), so each error names the parameter at fault; the
read goes through the app's one `Spine`, and `paging.serve` bounds the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import polars as pl
from deltalake.exceptions import DeltaError
from fastapi import APIRouter, Depends, Query, Request, Response

from market_spine.api import params
from market_spine.api.errors import ApiError
from market_spine.api.formats import Format
from market_spine.api.paging import Answer, Limit, Offset, Page, by_values, serve
from market_spine.api.params import RESPONSES, AsCertified, AsOf, Flags, Fmt
from market_spine.client import (
    BARS_1M,
    BARS_DAILY,
    CONTINUOUS_1M,
    CONTINUOUS_DAILY,
    DAILY_BY_DATE,
    ROLLS,
    Spine,
    rolls_end,
)
from market_spine.errors import InvalidInput, InvalidRange
from market_spine.futures.continuous import ADJUSTMENTS, adjustment_name
from market_spine.futures.roll_table import held_on
from market_spine.markets import calendars
from market_spine.markets.dates import FORMS, parse_range
from market_spine.markets.rolls import continuous_symbol, is_continuous

router = APIRouter(prefix="/v1/bars", tags=["bars"])

#: One request spans at most a month of minute bars; bulk reads belong in Spine or SQL, which
#: stream from the lake without holding a whole response in the server's memory.
MAX_TRADE_DAYS = 31
BULK_HINT = "narrow the range, or read bulk data with `Spine().bars(...)` or `Spine().sql(...)`"

Point = date | datetime


@dataclass(frozen=True)
class BarsQuery:
    """Validated parameters of a bars request."""

    root: str
    start: Point
    end: Point
    as_of: int | datetime | None
    symbol: str = ""  # the root, or a continuous series (CL.c.0)
    adjust: str = "none"

    @property
    def continuous(self) -> bool:
        """True for a continuous series."""
        return self.symbol != self.root


def iso(value: Point | None) -> str | None:
    """A date as `YYYY-MM-DD`, a timestamp as ISO-8601 UTC with `Z`."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None if value is None else value.isoformat()


def parse_query(
    symbol: str,
    start: str,
    end: str | None,
    as_of: str | None,
    adjust: str = "none",
    by_date: bool = False,
) -> BarsQuery:
    """Validate every parameter, raising a 422 ApiError that names the first bad one;
    `by_date`: the read takes trade dates only (daily bars), so a timestamp is refused as
    Spine refuses it."""
    series = params.bars_symbol(symbol)
    root = series.split(".")[0]
    try:
        how = adjustment_name(adjust)
    except InvalidInput as exc:
        raise ApiError(422, str(exc), "adjust") from None
    if how != "none" and series == root:
        raise ApiError(
            422,
            f"adjust={how} applies to continuous series: pass symbol={root}.c.0 (calendar roll) "
            f"or {root}.v.0 (volume roll)",
            "adjust",
        )
    lo = params.point(start, "start")
    hi = None if end is None else params.point(end, "end")
    if by_date:
        for field, value in (("start", lo), ("end", hi)):
            if isinstance(value, datetime):
                raise ApiError(422, f"{field}={iso(value)}: {DAILY_BY_DATE}", field)
    try:
        lo, hi = parse_range(lo, hi)
    except InvalidRange as exc:
        raise ApiError(422, str(exc), "end") from None
    if isinstance(lo, datetime) and hi == lo:
        raise ApiError(
            422,
            "a timestamp range is [start, end) and this one is empty: pass an end after start, "
            f"or pass whole trade dates ({FORMS})",
            "end",
        )
    return BarsQuery(root, lo, hi, params.as_of(as_of), series, how)


def trade_day_span(q: BarsQuery) -> tuple[date, date]:
    """The trade dates a query can touch (for timestamps, the UTC dates of its bounds)."""
    if isinstance(q.start, datetime) and isinstance(q.end, datetime):
        return q.start.astimezone(UTC).date(), (q.end - timedelta(microseconds=1)).astimezone(
            UTC
        ).date()
    assert isinstance(q.start, date) and isinstance(q.end, date)
    return q.start, q.end


def not_loaded(dataset: str, q: BarsQuery) -> ApiError:
    """404 for a table no run has written yet, with the command that writes the days asked."""
    lo, hi = trade_day_span(q)
    return ApiError(
        404,
        f"{dataset} has no data yet: run `market-spine process --start {lo} --end {hi} "
        f"--symbols {q.root} --domain futures` to materialize it",
    )


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
        f"cover at most {MAX_TRADE_DAYS}: {BULK_HINT}",
        "end",
    )


def read(
    spine: Spine,
    dataset: str,
    q: BarsQuery,
    version: int,
    certified_only: bool = False,
    as_certified: str | None = None,
    flags: bool = False,
) -> pl.DataFrame:
    """Read through the Spine; a past version whose files are gone is the caller's 422, data
    not certified under `certified_only` a 409. A read `as_certified` goes through the Spine
    by date, so its rows carry their state as it stood then."""
    as_of = None if q.as_of is None or as_certified else version
    how = {
        "as_of": as_of,
        "certified_only": certified_only,
        "as_certified": as_certified,
        "adjust": q.adjust,
    }
    try:
        if dataset in (BARS_DAILY, CONTINUOUS_DAILY):
            return spine.daily(q.symbol, q.start, q.end, **how)
        return spine.bars(q.symbol, q.start, q.end, **how, flags=flags)
    except (DeltaError, FileNotFoundError) as exc:
        if as_of is None:
            raise
        raise ApiError(
            422,
            f"version {version} of {dataset} can no longer be read ({exc}): pass a later as_of",
            "as_of",
        ) from None


def answer(request: Request, dataset: str, p: BarsParams) -> Response:
    """Validate, check the width, then read and answer one bounded page of bars."""
    spine: Spine = request.app.state.spine
    advice = spine.contract_advice(p.symbol, p.start)
    if advice is not None:  # an outright contract: say which series serves it, or loads it
        raise ApiError(422, advice, "symbol")
    q = parse_query(p.symbol, p.start, p.end, p.as_of, p.adjust, by_date=dataset == BARS_DAILY)
    if dataset == BARS_1M:
        check_width(q)
    elif p.flags:
        raise ApiError(
            422,
            "anomaly flags mark minute bars: ask /v1/bars with flags=true, or see each "
            "session's anomaly count in /v1/readiness",
            "flags",
        )
    if q.continuous:
        dataset = CONTINUOUS_1M if dataset == BARS_1M else CONTINUOUS_DAILY
    if not spine.lake.exists(dataset):
        raise not_loaded(dataset, q)
    certified = params.certified_read(spine, dataset, p.as_certified, q.as_of, q.symbol)
    version = (
        params.version(spine.lake, dataset, q.as_of) if certified is None else certified.version
    )
    as_of_echo: Any = iso(q.as_of) if isinstance(q.as_of, datetime) else q.as_of
    meta = {"symbol": q.symbol, "start": iso(q.start), "end": iso(q.end), "as_of": as_of_echo}
    if q.continuous:
        meta["adjust"] = q.adjust
    headers: dict[str, str] = {}
    if certified is not None:
        meta["as_certified"] = p.as_certified
        said, headers = params.left_out(
            spine, certified, {"symbol": q.root}, {"trade_date": trade_day_span(q)}
        )
        meta.update(said)
    return serve(
        request,
        Answer(
            read=lambda: read(
                spine, dataset, q, version, p.certified_only, p.as_certified, p.flags
            ),
            fmt=p.fmt,
            page=Page(p.limit, p.offset),
            meta=meta,
            version=version,
            narrower=by_values("trade_date", "end", prefix=True),
            why_empty=lambda: spine.empty_reason(
                dataset, q.symbol, q.start, q.end, as_of=None if q.as_of is None else version
            ),
            # A read of the past says what it leaves out its own way (`left_out`).
            why_partial=(
                (lambda frame: spine.missing_sessions(q.symbol, q.start, q.end, frame))
                if q.as_of is None and certified is None
                else None
            ),
            headers=headers,
        ),
    )


# -- parameters, declared once for both endpoints -----------------------------------------------

Symbol = Annotated[
    str,
    Query(
        description="Futures root (CL), or a continuous series: ROOT.c.N by the calendar roll, "
        "ROOT.v.N by the volume roll, N = 0 (held contract) or 1 (the next).",
        examples=["CL"],
    ),
]
Adjust = Annotated[
    str,
    Query(
        description=f"Back-adjustment of a continuous series ({', '.join(ADJUSTMENTS)}): "
        "difference adds the gaps of the later rolls, ratio multiplies by their ratios, "
        "anchored to the last bar read; the `adjustment` column gives the amount."
    ),
]
Start = Annotated[
    str,
    Query(
        description="A trade date (`2024-03-05`, `20240305`; whole sessions, inclusive) or an ISO "
        "UTC timestamp (`2024-03-05T14:30:00Z`; bar opens in [start, end)).",
        examples=["2024-03-05"],
    ),
]
CertifiedOnly = Annotated[
    bool,
    Query(
        description="Refuse (409) a read holding any session that is not certified; every row "
        "says its session's state in `certification`, the whole read in `X-Certification`."
    ),
]
End = Annotated[
    str | None,
    Query(
        description="Same forms as start; defaults to start (one trade date).",
        examples=["2024-03-06"],
    ),
]

RollsEnd = Annotated[
    str | None,
    Query(
        description="Last trade date of the rolls (inclusive); defaults to the latest trade date, "
        "so `start` alone reads every roll since.",
        examples=["2024-06-28"],
    ),
]


@dataclass
class BarsParams:
    """The query parameters both bars endpoints take, declared once (FastAPI reads them from
    this class's signature through `Depends()`)."""

    symbol: Symbol
    start: Start
    end: End = None
    fmt: Fmt = Format.json
    as_of: AsOf = None
    limit: Limit = None
    offset: Offset = 0
    certified_only: CertifiedOnly = False
    as_certified: AsCertified = None
    flags: Flags = False
    adjust: Adjust = "none"


Params = Annotated[BarsParams, Depends()]


@router.get("", summary="1-minute bars", response_class=Response, responses=RESPONSES)
def bars(request: Request, p: Params) -> Response:
    """1-minute bars of a futures root or continuous series (`ts` is the bar's open, UTC). At
    most 31 trade days."""
    return answer(request, BARS_1M, p)


@router.get("/daily", summary="Daily bars", response_class=Response, responses=RESPONSES)
def daily(request: Request, p: Params) -> Response:
    """Daily bars of a futures root for trade dates [start, end]."""
    return answer(request, BARS_DAILY, p)


@router.get("/rolls", summary="Roll table", response_class=Response, responses=RESPONSES)
def rolls(
    request: Request,
    symbol: Symbol,
    start: Start,
    end: RollsEnd = None,
    fmt: Fmt = Format.json,
    as_of: AsOf = None,
    limit: Limit = None,
    offset: Offset = 0,
) -> Response:
    """The rolls of a root (or one continuous series) taking effect on trade dates [start,
    end]: from and to which contract, when, and the gap and ratio at the last common minute.
    Without `end`, up to the latest trade date (a timestamp `start` counts as its UTC date)."""
    if end is None:
        first = params.point(start, "start")
        if isinstance(first, datetime):
            start = first.astimezone(UTC).date().isoformat()
    q = parse_query(symbol, start, end, as_of)
    spine: Spine = request.app.state.spine
    if not spine.lake.exists(ROLLS):
        raise not_loaded(ROLLS, q)
    version = params.version(spine.lake, ROLLS, q.as_of)
    lo, hi = trade_day_span(q)
    if end is None:
        hi = rolls_end(q.root, lo)
    return serve(
        request,
        Answer(
            read=lambda: spine.rolls(q.symbol, lo, hi, as_of=None if q.as_of is None else version),
            fmt=fmt,
            page=Page(limit, offset),
            meta={"symbol": q.symbol, "start": iso(lo), "end": iso(hi)},
            version=version,
            why_empty=lambda: spine.empty_reason(
                ROLLS, q.symbol, lo, hi, as_of=None if q.as_of is None else version
            ),
        ),
    )


Series = Annotated[
    str,
    Query(
        description="A continuous series: ROOT.c.N (calendar roll) or ROOT.v.N (volume roll).",
        examples=["ES.c.0"],
    ),
]
Day = Annotated[str, Query(description="The trade date, e.g. `2024-03-05`.")]


@router.get("/held", summary="The contract a continuous series holds on a trade date")
def held(request: Request, symbol: Series, day: Day) -> dict[str, Any]:
    """The contract `symbol` holds on trade date `day` by its roll rule, known before any run
    built the series that day (a live session's): what the live page joins the stream's bars
    to. A roll takes effect at a session's open, so the answer holds for the whole session."""
    series = params.bars_symbol(symbol)
    if not is_continuous(series):
        raise ApiError(
            422,
            f"symbol={symbol!r} is a root, whose bars are its front contract's: pass a "
            f"continuous series such as {series}.c.0 (calendar roll) or {series}.v.0 (volume roll)",
            "symbol",
        )
    found = params.trade_date(day, "day")
    spine: Spine = request.app.state.spine
    parsed = continuous_symbol(series)
    if not calendars.is_trading_day(parsed.root, found):
        # A series holds nothing on a day without a session: the bars route says the same.
        raise ApiError(
            422,
            f"day={found.isoformat()}: {parsed.root} has no session that day (a weekend or a "
            "holiday), so no contract is held; pick a trading day",
            "day",
        )
    contract = held_on(spine.lake, parsed, found)
    return {
        "symbol": series,
        "trade_date": found.isoformat(),
        "contract": contract.local_symbol,
        "rule": parsed.rule,
    }
