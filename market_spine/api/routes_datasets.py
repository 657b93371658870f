"""`GET /v1/datasets/{name}`: a company dataset's silver rows (`clients`, `orders`, ...) as the
caller may see them — its tenant's rows only when its key is bound to one, personal-data
columns masked without the `pii` scope — each with its partition's `certification` and the
read's in `X-Certification`, as market data; JSON, CSV or Arrow IPC, bounded and paged; none
says why in `empty_reason` (a missing drop folder names where it is expected)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from market_spine.api.errors import ApiError
from market_spine.api.formats import Format
from market_spine.api.paging import Answer, Limit, Offset, Page, serve
from market_spine.api.params import RESPONSES, Fmt
from market_spine.catalog.vocabulary import UnknownDataset
from market_spine.company import reading, tenancy
from market_spine.company.empty_reads import why_empty
from market_spine.security.identity import Identity

router = APIRouter(prefix="/v1/datasets", tags=["company datasets"])


@router.get(
    "/{name}",
    summary="A company dataset's rows (tenant-scoped, PII masked without the pii scope)",
    response_class=Response,
    responses=RESPONSES,
)
def dataset(
    request: Request,
    name: str,
    fmt: Fmt = Format.json,
    limit: Limit = None,
    offset: Offset = 0,
) -> Response:
    """`name` as declared in the dataset's YAML (`clients`). A dimension answers every version
    of each key (`valid_from`, `valid_to`, `is_current`); a fact, one row per key. A key
    bound to a tenant is answered 403 for a dataset not split by tenant."""
    identity: Identity = request.state.identity
    try:
        table = reading.silver_name(name, identity)
    except UnknownDataset as exc:
        raise ApiError(404, str(exc), "name") from None
    tenancy.refuse(table, identity)
    spine = request.app.state.spine
    home = spine.settings.home
    return serve(
        request,
        Answer(
            read=lambda: reading.read(
                spine.lake, table, identity, home, spine.certification_states, audit=False
            ),
            fmt=fmt,
            page=Page(limit, offset),
            meta={
                "dataset": table,
                "tenant": identity.tenant,
                "masked_columns": []
                if identity.pii
                else [c for c, _ in reading.company_spec(table).pii],
            },
            why_empty=lambda: why_empty(
                spine.lake, table, home, identity.tenant, admin=identity.role == "admin"
            ),
            # A clear read of personal data is audited with the rows answered, not all read.
            served=lambda rows: reading.audit_clear_rows(table, rows, identity, home),
        ),
    )
