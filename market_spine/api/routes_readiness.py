"""`GET /v1/readiness`: is the data ready — per dataset, symbol and trade date its
certification, completeness, anomalies, capture, last compute time and freshness lag, from the
summary kept as partitions are computed; JSON, CSV or Arrow IPC, paged by `paging.serve`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from market_spine.api.errors import ApiError
from market_spine.api.formats import Format
from market_spine.api.paging import Answer, Limit, Offset, Page, serve
from market_spine.api.params import RESPONSES, Fmt, optional_trade_date
from market_spine.certification.readiness import FilterError, ReadinessQuery, parse_query
from market_spine.client import READINESS_DATASETS, Spine, readiness_datasets, readiness_symbols
from market_spine.company import reading
from market_spine.security.identity import Identity

router = APIRouter(prefix="/v1", tags=["readiness"])

Dataset = Annotated[
    str | None,
    Query(
        description="Only these datasets (comma-separated): "
        f"{', '.join(READINESS_DATASETS)} and each company dataset's silver table "
        "(e.g. normalized/company_clients). Absent: all."
    ),
]
Symbol = Annotated[
    str | None,
    Query(
        description="Only these symbols (comma-separated): futures or option roots (with their "
        "continuous series); a contract (`CLJ4`) stands for its root; a continuous series "
        "(`ES.c.1`) gives itself and its root's rows."
    ),
]
Start = Annotated[str | None, Query(description="First trade date, e.g. `2024-03-05`.")]
End = Annotated[str | None, Query(description="Last trade date (inclusive).")]


def parse(
    dataset: str | None, symbol: str | None, start: str | None, end: str | None
) -> ReadinessQuery:
    """The filters, checked as Spine checks them (the days as every route takes a day); a 422
    names the parameter at fault."""
    first, last = optional_trade_date(start, "start"), optional_trade_date(end, "end")
    try:
        return parse_query(dataset, symbol, first, last, readiness_datasets(), readiness_symbols())
    except FilterError as exc:
        raise ApiError(422, str(exc), exc.field) from None


@router.get(
    "/readiness",
    summary="Is the data ready: certification, completeness and anomalies per partition",
    response_class=Response,
    responses=RESPONSES,
)
def readiness(
    request: Request,
    dataset: Dataset = None,
    symbol: Symbol = None,
    start: Start = None,
    end: End = None,
    fmt: Fmt = Format.json,
    limit: Limit = None,
    offset: Offset = 0,
) -> Response:
    """One row per dataset, symbol and trade date judged so far: `state` (certified,
    preliminary, revised, failed), `completeness` with expected / present / missing / no-trade
    counts, `anomalies` and the worst flag, `computed_at`, `capture_id` and
    `freshness_lag_s`. No data is scanned: a year of every dataset answers from a small
    summary."""
    query = parse(dataset, symbol, start, end)
    spine: Spine = request.app.state.spine
    identity: Identity | None = getattr(request.state, "identity", None)
    return serve(
        request,
        Answer(
            read=lambda: reading.readiness_as(spine.lake, spine.readiness_of(query), identity),
            fmt=fmt,
            page=Page(limit, offset),
            meta={"dataset": dataset, "symbol": symbol, "start": start, "end": end},
        ),
    )
