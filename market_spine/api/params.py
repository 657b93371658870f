"""Query parameters parsed one by one, so every 422 names the parameter at fault in `field`.

Routes parse here before reading: the library's own errors cannot say which query parameter a
value came from.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Query

from market_spine.api.errors import ApiError, ErrorBody
from market_spine.api.formats import MEDIA_TYPES, Format
from market_spine.errors import InvalidInput, NoSuchDate, NotCertified
from market_spine.lake import Lake
from market_spine.lake.as_of import parse_as_of
from market_spine.markets.dates import FORMS, parse_point
from market_spine.markets.expirations import ROOTS as OPTION_ROOTS
from market_spine.markets.instruments import parse_root
from market_spine.markets.rolls import continuous_symbol, is_continuous

if TYPE_CHECKING:
    from market_spine.certification.pins import CertifiedRead
    from market_spine.client import Spine

Point = date | datetime

AsOf = Annotated[
    str | None,
    Query(description="Read the table as of a Delta version number or an ISO timestamp with zone."),
]
AsCertified = Annotated[
    str | None,
    Query(
        description="Read what was certified by the end of this date (UTC), e.g. `2024-03-05`: "
        "the newest certified version then. 409 when nothing was certified by then.",
        examples=["2024-03-05"],
    ),
]
Fmt = Annotated[Format, Query(alias="format", description="json, csv or arrow (Arrow IPC stream).")]
Flags = Annotated[
    bool,
    Query(
        description="Add the anomaly checks' flags on each row: `flag_kinds` (comma-separated, "
        "null when none) and `flag_score` (the worst; 1 = at the check's threshold)."
    ),
]

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The rows; `X-Rows`, `X-Total-Rows`, `X-Next-Offset` and `Link` page "
        "them, `X-Delta-Version` is the table version read, `X-Empty-Reason` says why none, "
        "`X-Missing-Trade-Dates` (bars) names the range's sessions the lake lacks.",
        "content": {MEDIA_TYPES[f]: {} for f in Format},
    },
    404: {"model": ErrorBody, "description": "The dataset has not been materialized yet."},
    422: {
        "model": ErrorBody,
        "description": "A parameter is invalid, or the read is over the row cap; `field` names "
        "the parameter to change.",
    },
    503: {"model": ErrorBody, "description": "Too many big reads in flight; retry."},
}

#: A time followed by " HH:MM": the "+" of a UTC offset that arrived unencoded in a query
#: string, where it decodes to a space.
_MANGLED_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def restore_plus(text: str) -> str:
    """Undo the space a URL makes of the `+` in `2024-03-05T14:30:00+00:00`."""
    return _MANGLED_OFFSET.sub(r"\1+\2", text.strip())


def _ascii(raw: str, field: str) -> str:
    if not raw.isascii():
        raise ApiError(422, f"{field}={raw!r} has characters outside ASCII: use {FORMS}", field)
    return restore_plus(raw)


def futures_root(raw: str, field: str = "symbol") -> str:
    """A configured futures root (`cl` → `CL`); a contract or series is named as one."""
    try:
        return parse_root(raw, f"{field}=")
    except InvalidInput as exc:
        raise ApiError(422, str(exc), field) from None


#: The forms a parameter that takes a trade date only accepts, as its refusals name them.
DAY_FORMS = "a trade date as YYYY-MM-DD or YYYYMMDD, e.g. 2024-03-05"


def bars_symbol(raw: str, field: str = "symbol") -> str:
    """A futures root (`cl` → `CL`) or a continuous series it serves (`es.c.0` → `ES.c.0`)."""
    if not is_continuous(raw):
        return futures_root(raw, field)
    try:
        return continuous_symbol(raw).name
    except InvalidInput as exc:
        raise ApiError(422, str(exc), field) from None


def point(raw: str, field: str) -> Point:
    """A trade date or an aware UTC timestamp; a day the calendar lacks (2024-02-30) is
    refused saying why and which forms are taken, like any text that is not one."""
    try:
        return parse_point(_ascii(raw, field), field)
    except NoSuchDate as exc:
        raise ApiError(422, f"{exc.problem}; {field} takes {FORMS}", field) from None
    except InvalidInput as exc:
        raise ApiError(422, str(exc), field) from None


def trade_date(raw: str, field: str) -> date:
    """A date only: `2024-03-05` or `20240305`. Every route taking a day parses it here, so
    each refuses a bad one the same way: the parameter, what is wrong, the form expected."""
    try:
        found = parse_point(_ascii(raw, field), field)
    except NoSuchDate as exc:
        raise ApiError(422, f"{exc.problem}; {field} takes {DAY_FORMS}", field) from None
    except InvalidInput:
        raise ApiError(
            422, f"{field}={raw!r} is not a date: {field} takes {DAY_FORMS}", field
        ) from None
    if isinstance(found, datetime):
        raise ApiError(422, f"{field}={raw!r} is a time, not a date: pass {DAY_FORMS}", field)
    return found


def optional_trade_date(raw: str | None, field: str) -> date | None:
    """`trade_date` of a parameter that may be absent or blank (None then)."""
    if raw is None or raw.strip() == "":
        return None
    return trade_date(raw, field)


def option_root(raw: str, field: str = "root") -> str:
    """SPX or SPXW, any case."""
    upper = raw.strip().upper()
    if upper not in OPTION_ROOTS:
        raise ApiError(422, f"{field}={raw!r} is not one of {', '.join(OPTION_ROOTS)}", field)
    return upper


def as_of(raw: str | None) -> int | datetime | None:
    """A Delta version number (`3`) or an ISO timestamp with a zone; None when absent."""
    if raw is None or raw.strip() == "":
        return None
    try:
        return parse_as_of(restore_plus(raw))
    except InvalidInput as exc:
        raise ApiError(422, str(exc), "as_of") from None


def version(lake: Lake, dataset: str, wanted: int | datetime | None) -> int:
    """The table version a read will see; a version or time the table never had is a 422."""
    try:
        return lake.resolve_version(dataset, wanted)
    except InvalidInput as exc:
        raise ApiError(422, str(exc), "as_of") from None


def certified_read(
    spine: Spine,
    dataset: str,
    raw: str | None,
    as_of: int | datetime | None,
    symbol: str | None = None,
) -> CertifiedRead | None:
    """Where a read `as_certified=raw` goes (None without it): a date that is not one is a
    422, nothing certified by then a 409; an `as_of` beside it must name its version (the
    newest a partition is read at, which the next-page links pin)."""
    if raw is None or raw.strip() == "":
        return None
    try:
        read = spine.certified_read(dataset, raw.strip(), symbol)
    except NotCertified as exc:
        raise ApiError(409, str(exc), "as_certified") from None
    except InvalidInput as exc:
        raise ApiError(422, str(exc), "as_certified") from None
    if as_of is not None and as_of != read.version:
        raise ApiError(
            422,
            f"as_of={as_of} and as_certified={raw} name different versions of {dataset} "
            f"(as_certified reads version {read.version}): pass one of them",
            "as_of",
        )
    return read


#: The header naming the partitions a read `as_certified` left out, never certified by then.
LEFT_OUT_HEADER = "X-Certification-Left-Out"


def left_out(
    spine: Spine,
    read: CertifiedRead,
    equals: dict[str, Any],
    between: dict[str, tuple[Any, Any]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """What an answer `as_certified` says of the partitions it leaves out (never certified by
    then, among those the table holds in its range): the body's `left_out` (with `left_out_reason`
    when any) and the LEFT_OUT_HEADER header (`SYMBOL DATE, ...`)."""
    from market_spine.certification.pins import left_out as certified_left_out
    from market_spine.certification.pins import left_out_json

    left = certified_left_out(spine.lake, read, equals, between)
    if not left:
        return {"left_out": []}, {}
    meta = {"left_out": left_out_json(left), "left_out_reason": read.describe(left)}
    shown = ", ".join(f"{s} {d}" if s else str(d) for d, s in left)
    return meta, {LEFT_OUT_HEADER: shown}
