"""What bounds every data answer of the API: a row cap, limit/offset paging, Arrow streamed in
record batches, and a few read slots so concurrent big reads cannot exhaust the server's memory.

A route parses its parameters, then hands `serve` an `Answer`: how to read the frame, the
metadata to echo, and how to name a narrower query. `serve` takes a read slot, reads, and answers
one page (JSON or CSV, at most `api_max_rows` rows) or one Arrow stream (at most
`api_max_rows_arrow`); a read over the cap without a `limit` is a 422 naming what to send.
Every answer carries `X-Rows`, `X-Total-Rows`, `X-Next-Offset` and a `Link: rel="next"` while
rows remain, `X-Empty-Reason` when there are none, and `X-Certification` (certified,
preliminary, revised, failed or mixed, over the whole read) when its rows carry one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

import polars as pl
from fastapi import Query, Request, Response
from fastapi.responses import StreamingResponse

from market_spine.api.errors import ApiError
from market_spine.api.formats import MEDIA_TYPES, Format, render, stream_arrow
from market_spine.certification.status import summary
from market_spine.markets.empty_reads import EmptyReason
from market_spine.settings import Settings

#: How long a read waits for a slot before the server answers 503 (busy, retry).
SLOT_WAIT_S = 30.0
#: Rows per Arrow record batch: a few MB each, so a stream never builds one giant buffer.
ARROW_BATCH_ROWS = 16_384

Limit = Annotated[
    int | None,
    Query(
        ge=1,
        description="Rows in this answer (at most the server's cap); follow `next_offset` or the "
        "`Link: rel=next` header for the rest.",
    ),
]
Offset = Annotated[int, Query(ge=0, description="Rows to skip, for the pages after the first.")]


@dataclass(frozen=True)
class Page:
    """A window of rows: `limit` rows (None: up to the cap) from `offset`."""

    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class Narrower:
    """How to ask for fewer rows: the parameter to set and example values, e.g. `expiration`
    with `2024-03-05 (103,880 rows), 2024-03-06 (...)`."""

    field: str
    hint: str


@dataclass
class Answer:
    """One data request, parsed: how to read it and what to say about it."""

    read: Callable[[], pl.DataFrame]
    fmt: Format
    page: Page
    meta: dict[str, Any] = field(default_factory=dict)
    #: The table version read; echoed in `X-Delta-Version` and pinned in the next page's link.
    version: int | None = None
    narrower: Callable[[pl.DataFrame, int], Narrower] | None = None
    why_empty: Callable[[], EmptyReason] | None = None
    #: Over a read of whole trade dates: the sessions it lacks and why, from the whole read
    #: (`Spine.missing_sessions`); said in `missing` and `X-Missing-Trade-Dates`.
    why_partial: Callable[[pl.DataFrame], tuple[list[date], str] | None] | None = None
    #: Headers of the answer's own, beside those every answer carries.
    headers: dict[str, str] = field(default_factory=dict)
    #: Told the page of rows answered (what the caller gets, not the whole read), e.g. to
    #: audit personal data returned in clear.
    served: Callable[[pl.DataFrame], None] | None = None


class ReadSlots:
    """A counting semaphore over data reads: at most `n` frames are held at once."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._slots = threading.BoundedSemaphore(n)

    def take(self) -> Callable[[], None]:
        """Wait for a slot; return its idempotent release. 503 when none frees in time."""
        if not self._slots.acquire(timeout=SLOT_WAIT_S):
            raise ApiError(
                503,
                f"the server is busy: {self.n} big reads are in flight; retry in a few seconds "
                "or ask for fewer rows",
            )
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                self._slots.release()

        return release


def by_values(column: str, param: str, *, prefix: bool = False) -> Callable[..., Narrower]:
    """A narrower query from the counts of `column`'s values: one value (`expiration=...`) or,
    with `prefix`, the last value whose running total fits the cap (`end=...`)."""

    def narrower(frame: pl.DataFrame, cap: int) -> Narrower:
        counts = frame.group_by(column).len().sort(column)
        values, rows = counts[column].to_list(), counts["len"].to_list()
        if prefix:
            total, last = 0, None
            for value, n in zip(values, rows, strict=True):
                if total + n > cap:
                    break
                total, last = total + n, value
            if last is not None:
                return Narrower(param, f"{param}={_text(last)} ({total:,} rows)")
            return Narrower(param, f"a shorter range: {_text(values[0])} alone holds {rows[0]:,}")
        pairs = list(zip(values, rows, strict=True))[:6]
        shown = ", ".join(f"{_text(v)} ({n:,} rows)" for v, n in pairs)
        more = ", ..." if len(values) > 6 else ""
        return Narrower(param, f"{param}= one of {shown}{more}")

    return narrower


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def serve(request: Request, answer: Answer) -> Response:
    """Read under a slot and answer one bounded page; see the module docstring."""
    settings = settings_of(request)
    arrow = answer.fmt is Format.arrow
    cap = settings.api_max_rows_arrow if arrow else settings.api_max_rows
    page = answer.page
    if page.limit is not None and page.limit > cap:
        raise ApiError(
            422,
            f"limit={page.limit:,} is over the {cap:,}-row cap of one {answer.fmt} answer: pass "
            f"limit={cap} or less and follow next_offset",
            "limit",
        )
    release = request.app.state.read_slots.take()
    try:
        frame = answer.read()
        certification = summary(frame)
        total = frame.height
        partial = answer.why_partial(frame) if answer.why_partial is not None else None
        if page.limit is None and total - page.offset > cap:
            raise _too_many(request, answer, frame, cap)
        rows = frame.slice(page.offset, page.limit or cap)
        del frame  # the page is a view; nothing else needs the whole read
        end = page.offset + rows.height
        next_offset = end if end < total else None
        reason = answer.why_empty() if total == 0 and answer.why_empty else None
        if answer.why_partial is not None:
            answer.meta["missing"] = (
                {"trade_dates": [d.isoformat() for d in partial[0]], "detail": partial[1]}
                if partial
                else None
            )
        meta = {
            **answer.meta,
            "version": answer.version,
            "total_rows": total,
            "offset": page.offset,
            "limit": page.limit,
            "next_offset": next_offset,
            "empty_reason": reason.as_json() if reason else None,
        }
        headers = _headers(request, answer, rows.height, total, next_offset, reason)
        if partial:
            headers["X-Missing-Trade-Dates"] = ",".join(d.isoformat() for d in partial[0])
        if certification is not None:
            headers["X-Certification"] = certification
        if answer.served is not None:
            answer.served(rows)
        if arrow:
            chunks = stream_arrow(rows, meta, ARROW_BATCH_ROWS, on_close=release)
            return StreamingResponse(chunks, media_type=MEDIA_TYPES[Format.arrow], headers=headers)
        body, media_type = render(rows, answer.fmt, meta)
    except BaseException:
        release()
        raise
    release()
    return Response(body, media_type=media_type, headers=headers)


def _headers(
    request: Request,
    answer: Answer,
    rows: int,
    total: int,
    next_offset: int | None,
    reason: EmptyReason | None,
) -> dict[str, str]:
    headers = {**answer.headers, "X-Rows": str(rows), "X-Total-Rows": str(total)}
    if answer.version is not None:
        headers["X-Delta-Version"] = str(answer.version)
    if reason is not None:
        headers["X-Empty-Reason"] = reason.code
    if next_offset is not None:
        headers["X-Next-Offset"] = str(next_offset)
        following = {"offset": str(next_offset), "limit": str(answer.page.limit or rows)}
        if answer.version is not None:
            # Pinning the version keeps later pages consistent with this one.
            following["as_of"] = str(answer.version)
        link = request.url.include_query_params(**following)
        headers["Link"] = f'<{link.path}?{link.query}>; rel="next"'
    return headers


def _too_many(request: Request, answer: Answer, frame: pl.DataFrame, cap: int) -> ApiError:
    """The 422 for a read over the cap, naming a narrower query, paging and Arrow."""
    settings = settings_of(request)
    asked = f"{request.url.path}?{request.url.query}"
    ways = []
    param = "limit"
    if answer.narrower is not None:
        narrower = answer.narrower(frame, cap)
        ways.append(f"narrow it with {narrower.hint}")
        param = narrower.field
    ways.append(f"page it with limit={cap}&offset={answer.page.offset} and follow next_offset")
    if answer.fmt is not Format.arrow and frame.height <= settings.api_max_rows_arrow:
        ways.append("or ask format=arrow, which streams the whole read")
    return ApiError(
        422,
        f"{asked} holds {frame.height - answer.page.offset:,} rows, over the {cap:,}-row cap of "
        f"one {answer.fmt} answer: {'; '.join(ways)}",
        param,
    )
