"""`GET /v1/revisions`: what changed in a dataset since a caller's last read (a Delta version or
an instant), one row per revised partition, or the changed rows behind them with `detail=true`;
JSON, CSV or Arrow IPC, bounded and paged by `paging.serve`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from market_spine.api.errors import ApiError
from market_spine.api.formats import Format
from market_spine.api.paging import Answer, Limit, Offset, Page, serve
from market_spine.api.params import RESPONSES, Fmt, restore_plus
from market_spine.catalog.vocabulary import UnknownDataset
from market_spine.certification.changes import known_since
from market_spine.client import Spine
from market_spine.company import tenancy
from market_spine.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["revisions"])

Dataset = Annotated[
    str, Query(description="The dataset, e.g. `normalized/futures_bars_1m`.", min_length=1)
]
Since = Annotated[
    str | None,
    Query(
        description="Only revisions after this: a Delta version number (those that made a later "
        "version) or an ISO timestamp with zone (those recorded after it). Absent: all."
    ),
]
Detail = Annotated[
    bool,
    Query(description="The rows behind the revisions (added, removed, changed values) instead."),
]


@router.get(
    "/revisions",
    summary="What changed in a dataset since a version or a time",
    response_class=Response,
    responses=RESPONSES,
)
def revisions(
    request: Request,
    dataset: Dataset,
    since: Since = None,
    detail: Detail = False,
    fmt: Fmt = Format.json,
    limit: Limit = None,
    offset: Offset = 0,
) -> Response:
    """Each revision: partition, rows added / removed / changed, the columns and their largest
    absolute and relative change, old and new Delta versions and capture ids. A replacement
    that changed nothing is no revision, so an empty answer means nothing changed; nor is one
    that changed only values each source derives its own way (a minute bar's vwap and trade
    count)."""
    from market_spine.catalog.registry import CATALOG

    try:
        name = CATALOG.get(dataset).name
    except UnknownDataset as exc:
        raise ApiError(422, str(exc), "dataset") from None
    refused = tenancy.revisions_refusal(name, getattr(request.state, "identity", None))
    if refused is not None:
        raise ApiError(403, refused, "dataset")
    spine: Spine = request.app.state.spine
    try:
        wanted = known_since(spine.lake, name, None if since is None else restore_plus(since))
    except InvalidInput as exc:
        raise ApiError(422, str(exc), "since") from None
    return serve(
        request,
        Answer(
            read=lambda: spine.changes(name, wanted, detail=detail),
            fmt=fmt,
            page=Page(limit, offset),
            meta={"dataset": name, "since": since, "detail": detail},
        ),
    )
