"""How a futures asset is declared: over a home's trade date × symbol partitions, run as one
single-run backfill, with its checks partitioned the same way and its catalog entry as metadata."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from market_spine.assetkit import FRESHNESS, CheckDef, check_specs
from market_spine.catalog.dagster_metadata import catalog_metadata
from market_spine.catalog.vocabulary import DatasetSpec


def futures_asset(
    compute: Callable[..., Any],
    key: dg.AssetKey,
    spec: DatasetSpec,
    checks: Sequence[CheckDef[Any]],
    partitions_def: dg.PartitionsDefinition,
    deps: Sequence[dg.AssetKey] = (),
) -> dg.AssetsDefinition:
    """`compute` as the asset `key` over `partitions_def`, with `checks` and `spec`'s owner,
    description and catalog metadata."""
    return dg.asset(
        key=key,
        deps=list(deps),
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        freshness_policy=FRESHNESS,
        check_specs=check_specs(key, checks, partitions_def),
        group_name="futures",
        kinds={"delta", "polars"},
        owners=[spec.owner],
        description=spec.description,
        metadata=catalog_metadata(spec),
    )(compute)
