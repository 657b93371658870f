"""`GET /v1/audit`: the audit trail's entries, filtered like `market-spine audit export`
(since, actor, dataset, action), oldest first, a page at a time (`after` the last `seq` seen)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from market_spine.audit.export import AuditFilter, entries_as_dicts, since_instant
from market_spine.audit.recorder import recorder
from market_spine.audit.store import AuditStore, NoAuditTrail

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", summary="Audit trail entries (compliance)")
def audit(
    request: Request,
    since: Annotated[
        str, Query(description="A span back from now (7d, 24h) or ISO instant.")
    ] = "7d",
    actor: str | None = None,
    dataset: str | None = None,
    action: Annotated[
        str | None, Query(description="An action, or a prefix ending in '.' (http.)")
    ] = None,
    after: Annotated[int | None, Query(ge=0, description="Entries after this seq.")] = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 1000,
) -> dict[str, Any]:
    """Entries with their sequence number, hash and the hash before them; `next_after` pages
    on (null on the last page)."""
    home = request.app.state.settings.home
    # Entries recorded before this query (a read answered a moment ago) wait in the recorder
    # for its next background write: write them first, so the answer includes them.
    recorder(home).flush()
    where = AuditFilter(since_instant(since), actor, dataset, action)
    try:
        store = AuditStore(home, create=False)
    except NoAuditTrail:
        return {"entries": [], "next_after": None}
    try:
        found = entries_as_dicts(store, where, limit, after=after)
    finally:
        store.close()
    return {"entries": found, "next_after": found[-1]["seq"] if len(found) == limit else None}
