"""Request parameters as the v3 terminal reads them (names, domains, defaults), and the errors
that become 473 or 570. The domains are those of the v3 OpenAPI document: a value outside them
answers 473 with a message naming the parameter, as the terminal does."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from starlette.requests import Request

#: The option and index roots this terminal serves.
OPTION_SYMBOLS = ("SPX", "SPXW")
INDEX_SYMBOLS = ("SPX",)
#: Every interval the terminal accepts, in seconds (`tick`: every quote change, no sampling).
INTERVAL_SECONDS: dict[str, float | None] = {
    "tick": None,
    "10ms": 0.01,
    "100ms": 0.1,
    "500ms": 0.5,
    "1s": 1,
    "5s": 5,
    "10s": 10,
    "15s": 15,
    "30s": 30,
    "1m": 60,
    "5m": 300,
    "10m": 600,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
}
DEFAULT_INTERVAL = "1s"
#: Defaults of the time-of-day window (Eastern, both ends inclusive).
DEFAULT_START_TIME = time(9, 30)
DEFAULT_END_TIME = time(16, 0)
FORMATS = ("csv", "json", "ndjson", "html")
RIGHTS = {"call": "CALL", "put": "PUT", "both": None}
REQUEST_TYPES = ("quote", "trade")


class BadParam(Exception):
    """A request parameter is missing or invalid (answered with 473)."""


class TooLarge(Exception):
    """The request asks for more rows than the terminal serves at once (answered with 570)."""


def param_date(request: Request, name: str) -> date:
    """A required `YYYYMMDD` or `YYYY-MM-DD` date."""
    raw = request.query_params.get(name)
    if not raw:
        raise BadParam(f"Missing required parameter {name}")
    # strptime alone accepts "2024033" (single-digit day): insist on the exact widths.
    fmt = {8: "%Y%m%d", 10: "%Y-%m-%d"}.get(len(raw))
    if fmt is not None:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            pass
    raise BadParam(f"Invalid parameter {name}={raw!r}: expected YYYYMMDD or YYYY-MM-DD")


def param_range(request: Request) -> tuple[date, date]:
    """The required `start_date`..`end_date` range (inclusive)."""
    start, end = param_date(request, "start_date"), param_date(request, "end_date")
    if end < start:
        raise BadParam(f"Invalid parameter end_date={end:%Y%m%d}: before start_date")
    return start, end


def param_span(request: Request) -> list[date]:
    """The required `start_date`..`end_date` range as its calendar days."""
    start, end = param_range(request)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def param_days(request: Request) -> list[date]:
    """`date` (which overrides a range), or the `start_date`..`end_date` range, as days."""
    if request.query_params.get("date"):
        return [param_date(request, "date")]
    return param_span(request)


def within_a_month(days: list[date], endpoint: str) -> None:
    """Multi-day requests of the intraday endpoints are limited to one month of data: the last
    day must come before the same day of the next month (clipped to that month's end)."""
    first, last = days[0], days[-1]
    year, month = first.year + first.month // 12, first.month % 12 + 1
    limit = date(year, month, min(first.day, calendar.monthrange(year, month)[1]))
    if last >= limit:
        raise BadParam(
            f"Invalid date range {first:%Y%m%d}..{last:%Y%m%d}: multi-day {endpoint} requests "
            "are limited to 1 month of data"
        )


def param_symbol(request: Request, served: tuple[str, ...] = OPTION_SYMBOLS) -> str:
    """A required single symbol."""
    symbol = (request.query_params.get("symbol") or "").upper()
    if not symbol:
        raise BadParam("Missing required parameter symbol")
    if symbol not in served:
        raise BadParam(
            f"Invalid parameter symbol={symbol!r}: this terminal serves {', '.join(served)}"
        )
    return symbol


def param_symbols(request: Request, required: bool = True) -> list[str]:
    """A symbol list: `*` for every symbol served, or names separated by commas."""
    raw = (request.query_params.get("symbol") or "").upper()
    if not raw:
        if required:
            raise BadParam("Missing required parameter symbol")
        return list(OPTION_SYMBOLS)
    if raw == "*":
        return list(OPTION_SYMBOLS)
    symbols = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = [s for s in symbols if s not in OPTION_SYMBOLS]
    if unknown or not symbols:
        raise BadParam(
            f"Invalid parameter symbol={raw!r}: this terminal serves {', '.join(OPTION_SYMBOLS)}"
        )
    return symbols


def param_time(request: Request, name: str, default: time) -> time:
    """An `HH:MM:SS[.SSS]` Eastern wall-clock parameter."""
    raw = request.query_params.get(name)
    if not raw:
        return default
    for fmt in ("%H:%M:%S.%f", "%H:%M:%S"):
        try:
            return datetime.strptime(raw, fmt).time()
        except ValueError:
            continue
    raise BadParam(f"Invalid parameter {name}={raw!r}: expected HH:MM:SS.SSS")


def param_expiration(request: Request, wildcard: bool) -> date | None:
    """The required expiration; `*` (all of them, None) where the endpoint accepts it. A
    missing expiration is a missing required parameter (473), never read as `*`."""
    raw = request.query_params.get("expiration")
    if wildcard and raw == "*":
        return None
    if raw == "*":
        raise BadParam("Invalid parameter expiration='*': this endpoint needs one expiration")
    if not raw:
        raise BadParam("Missing required parameter expiration")
    return param_date(request, "expiration")


@dataclass(frozen=True)
class ContractFilter:
    """The contract selectors of the history endpoints: `strike` (dollars, or `*`), `right`
    (`call`, `put`, `both`), `max_dte` (full calendar days) and `strike_range` (n strikes each
    side of the spot, plus the one at the money)."""

    strike: float | None = None
    right: str | None = None
    max_dte: int | None = None
    strike_range: int | None = None


def param_filter(request: Request) -> ContractFilter:
    """The contract selectors of a request, each checked against its domain."""
    q = request.query_params
    strike = None
    raw = q.get("strike", "*")
    if raw not in ("*", ""):
        try:
            strike = round(float(raw), 3)
        except ValueError:
            raise BadParam(f"Invalid parameter strike={raw!r}: dollars (100.00) or *") from None
        if strike <= 0:
            raise BadParam(f"Invalid parameter strike={raw!r}: must be positive")
    right_raw = (q.get("right") or "both").lower()
    if right_raw not in RIGHTS:
        raise BadParam(f"Invalid parameter right={q.get('right')!r}: one of call, put, both")
    return ContractFilter(
        strike=strike,
        right=RIGHTS[right_raw],
        max_dte=_param_int(request, "max_dte", minimum=0),
        strike_range=_param_int(request, "strike_range", minimum=1),
    )


def _param_int(request: Request, name: str, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadParam(f"Invalid parameter {name}={raw!r}: an integer") from None
    if value < minimum:
        raise BadParam(f"Invalid parameter {name}={raw!r}: at least {minimum}")
    return value


def param_interval(request: Request) -> str:
    """The sampling interval (default 1s), one of INTERVAL_SECONDS."""
    raw = request.query_params.get("interval") or DEFAULT_INTERVAL
    if raw not in INTERVAL_SECONDS:
        raise BadParam(f"Invalid parameter interval={raw!r}: one of {', '.join(INTERVAL_SECONDS)}")
    return raw


def param_format(request: Request) -> str:
    """The response format (default csv)."""
    fmt = (request.query_params.get("format") or "csv").lower()
    if fmt not in FORMATS:
        raise BadParam(f"Invalid parameter format={fmt!r}: one of {', '.join(FORMATS)}")
    return fmt


def param_request_type(request: Request) -> str:
    """The `{request_type}` path segment of the list endpoints: quote or trade."""
    kind = request.path_params["request_type"]
    if kind not in REQUEST_TYPES:
        raise BadParam(f"Invalid request type {kind!r}: one of {', '.join(REQUEST_TYPES)}")
    return kind
