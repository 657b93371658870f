"""`GET /v1/gaps`: the gap report (`operations.gaps`) as JSON, computed in the API's process,
where Dagster and the calendars are already loaded, the instance open and the asset status cache
warm. `market-spine gaps` reads it from here when this API serves its home, so a report answers
without loading Dagster in the command."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from market_spine.api import params
from market_spine.security.bootstrap import served_home
from market_spine.settings import Settings

router = APIRouter(tags=["operations"])


class GapsService:
    """Gap reports of one home, one at a time (a burst of requests queues rather than reading
    the instance side by side); the instance is opened on the first request."""

    def __init__(self, settings: Settings, open_instance: Callable[[], Any]) -> None:
        self._settings = settings
        self._open_instance = open_instance
        self._instance: Any = None
        self._lock = threading.Lock()

    def report(self, start: date, end: date, **options: Any) -> dict[str, Any]:
        from market_spine.errors import InvalidInput
        from market_spine.operations.gaps import find_gaps

        with self._lock:
            if self._instance is None:
                self._instance = self._open_instance()
            if self._instance is None:
                raise InvalidInput(
                    "the home has no Dagster instance yet: run `market-spine up` to create it"
                )
            return find_gaps(self._instance, self._settings, start, end, **options).as_dict()


@router.get("/v1/gaps")
def gaps(
    request: Request,
    start: Annotated[str, Query(description="First trade date, e.g. 2024-01-02.")],
    end: Annotated[str, Query(description="Last trade date (inclusive).")],
    domain: Annotated[str, Query(description="futures, options or all.")] = "all",
    symbols: Annotated[
        str | None, Query(description="Futures roots, e.g. CL,ES (default: the home's).")
    ] = None,
    batch: Annotated[int, Query(ge=1, description="Trade dates per run the estimate plans.")] = 20,
    concurrency: Annotated[int, Query(ge=1, description="Runs at once the estimate plans.")] = 2,
) -> dict[str, Any]:
    """The partitions the calendars owe over [start, end] and the instance lacks, newest first,
    with the fill estimate, as `market-spine gaps --export json` prints it, plus `home_id`."""
    first, last = params.trade_date(start, "start"), params.trade_date(end, "end")
    roots = [s for s in (symbols or "").split(",") if s.strip()] or None
    doc = request.app.state.gaps.report(
        first, last, domain=domain, symbols=roots, batch=batch, concurrency=concurrency
    )
    return {**doc, "home_id": served_home(request.app.state.settings.home)}
