"""`GET /v1/cost`: what the platform cost over a window, by dataset, asset or component, as
`market-spine cost --json` prints it (an operator's report: usage, prices and storage)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from market_spine.api.errors import ApiError
from market_spine.errors import InvalidInput
from market_spine.operations.cost.report import GROUPINGS, home_cost

router = APIRouter(tags=["operations"])


@router.get("/v1/cost")
def cost(
    request: Request,
    since: str = Query("30d", description="The window's start: an age (30d, 2w, 12h) or a date."),
    by: str = Query("component", description=f"Group by {', '.join(GROUPINGS)}."),
) -> dict[str, Any]:
    """Compute, provider requests and subscriptions, and storage over the window, priced by the
    home's price sheet; most expensive first, with totals and the prices used."""
    try:
        report = home_cost(request.app.state.settings, since=since, by=by, options=_FIELDS)
    except InvalidInput as exc:
        text = str(exc)
        field = next((f for f in _FIELDS if text.startswith(f"{f} ")), None)
        raise ApiError(422, text, field) from None
    return report.as_json()


#: The query fields a bad window or grouping is named by.
_FIELDS = ("since", "by")
