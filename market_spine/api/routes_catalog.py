"""`GET /v1/catalog` and `GET /v1/catalog/{name}`: what datasets exist, what their columns mean,
where they come from, and live facts (rows, newest partition and data time, Delta version, last
materialization) — the same registry the CLI, Spine and the Dagster UI show.

Both answer from the app's `CatalogCache`, which a background thread rebuilds when the lake or the
warehouse changes: a request never opens the warehouse or waits on its lock.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response

from market_spine.api.errors import ApiError
from market_spine.catalog.listing import CatalogCache
from market_spine.catalog.vocabulary import UnknownDataset
from market_spine.company import reading
from market_spine.lake.store import Lake
from market_spine.security.identity import Identity

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])

NOT_READY = "the catalog listing is still being built: retry in a few seconds"


@router.get("", summary="Every dataset, with live facts")
async def catalog(request: Request) -> Response:
    """One entry per dataset: description, owner, grain, partitioning, schema version, upstream
    datasets and live facts; `built_at` says when the facts were read, `warehouse_busy` that a
    dbt build held the warehouse then (its models keep their previous facts). Columns are
    listed by `/v1/catalog/{name}`."""
    cache: CatalogCache = request.app.state.catalog
    cache.start()
    body = cache.body(wait_s=0)
    if body is None:  # only before the first listing of a home without a saved one
        body = await anyio.to_thread.run_sync(cache.body)
    if body is None:
        raise ApiError(503, NOT_READY)
    identity: Identity | None = getattr(request.state, "identity", None)
    if identity is not None and identity.tenant is not None:
        listing = json.loads(body)
        spine = request.app.state.spine
        for found in listing["datasets"]:
            _tenant_facts(found, spine.lake, identity)
        body = json.dumps(listing, separators=(",", ":")).encode()
    return Response(body, media_type="application/json")


def _tenant_facts(found: dict[str, Any], lake: Lake, identity: Identity) -> None:
    """A table's live facts as a tenant-bound identity sees them (`reading.tenant_facts`)."""
    if found.get("facts"):
        found["facts"] = reading.tenant_facts(lake, found["name"], identity, found["facts"])


@router.get("/{name:path}", summary="One dataset: columns, schema history, lineage, live facts")
async def dataset(request: Request, name: str) -> dict[str, Any]:
    """`name` is the dataset's path, e.g. `normalized/futures_bars_1m`."""
    from market_spine.catalog.registry import CATALOG

    try:
        CATALOG.get(name)
    except UnknownDataset as exc:
        raise ApiError(404, str(exc), "name") from None
    cache: CatalogCache = request.app.state.catalog
    cache.start()
    found = cache.entry(name, wait_s=0)
    if found is None:
        found = await anyio.to_thread.run_sync(cache.entry, name)
    if found is None:
        raise ApiError(503, NOT_READY)
    identity: Identity | None = getattr(request.state, "identity", None)
    if identity is not None and identity.tenant is not None:
        found = dict(found)
        _tenant_facts(found, request.app.state.spine.lake, identity)
    return found
