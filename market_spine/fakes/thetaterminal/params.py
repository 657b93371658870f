"""Request parameters as the terminal reads them, and the errors that become 47x/570."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from starlette.requests import Request

#: Quote intervals the fake serves, in minutes (the terminal also has tick and sub-minute ones).
INTERVAL_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60}


class BadParam(Exception):
    """A request parameter is missing or invalid (answered with 473)."""


def param_date(request: Request, name: str) -> date:
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


def param_symbol(request: Request) -> str:
    symbol = (request.query_params.get("symbol") or "").upper()
    if not symbol:
        raise BadParam("Missing required parameter symbol")
    if symbol not in ("SPX", "SPXW"):
        raise BadParam(f"Invalid parameter symbol={symbol!r}: this terminal serves SPX and SPXW")
    return symbol


def param_days(request: Request) -> list[date]:
    """`date`, or the `start_date`..`end_date` range, as a list of calendar days."""
    if request.query_params.get("date"):
        return [param_date(request, "date")]
    start, end = param_date(request, "start_date"), param_date(request, "end_date")
    if end < start:
        raise BadParam(f"Invalid parameter end_date={end:%Y%m%d}: before start_date")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def param_time(request: Request, name: str, default: str) -> str:
    """An `HH:MM:SS[.fff]` Eastern wall-clock parameter, as `HH:MM:SS`."""
    raw = request.query_params.get(name) or default
    try:
        return datetime.strptime(raw[:8], "%H:%M:%S").strftime("%H:%M:%S")
    except ValueError:
        raise BadParam(f"Invalid parameter {name}={raw!r}: expected HH:MM:SS") from None


def param_expiration(request: Request, wildcard: bool) -> date | None:
    raw = request.query_params.get("expiration")
    if wildcard and raw == "*":
        return None
    if not raw:
        raise BadParam("Missing required parameter expiration")
    return param_date(request, "expiration")


class TooLarge(Exception):
    """The request spans more than the terminal serves at once (answered with 570)."""
