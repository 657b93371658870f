"""`GET /v1/catalog` and `GET /v1/catalog/{name}`: what datasets exist, what their columns mean,
where they come from, and live facts (rows, newest partition and data time, Delta version, last
materialization) — the same registry the CLI, Spine and the Dagster UI show."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from market_spine.api.errors import ApiError
from market_spine.catalog.registry import describe, describe_all
from market_spine.catalog.vocabulary import UnknownDataset
from market_spine.client import Spine
from market_spine.home import existing_instance

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


@router.get("", summary="Every dataset, with live facts")
def catalog(request: Request) -> dict[str, Any]:
    """One entry per dataset: description, owner, grain, partitioning, schema version, upstream
    datasets and live facts; columns are listed by `/v1/catalog/{name}`."""
    spine: Spine = request.app.state.spine
    datasets = describe_all(spine.lake, existing_instance(spine.settings))
    for full in datasets:
        full.pop("columns")
    return {"datasets": datasets}


@router.get("/{name:path}", summary="One dataset: columns, schema history, lineage, live facts")
def dataset(request: Request, name: str) -> dict[str, Any]:
    """`name` is the dataset's path, e.g. `normalized/futures_bars_1m`."""
    spine: Spine = request.app.state.spine
    try:
        return describe(name, spine.lake, existing_instance(spine.settings))
    except UnknownDataset as exc:
        raise ApiError(404, str(exc), "name") from None
