"""How a futures asset is declared: its catalog entry's asset over a home's trade date × symbol
partitions (the catalog's `dataset_asset`), with the one-hour freshness policy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from market_spine.assetkit import FRESHNESS, CheckDef
from market_spine.catalog.dagster_metadata import dataset_asset
from market_spine.catalog.vocabulary import DatasetSpec


def futures_asset(
    compute: Callable[..., Any],
    spec: DatasetSpec,
    checks: Sequence[CheckDef[Any]],
    partitions_def: dg.PartitionsDefinition,
) -> dg.AssetsDefinition:
    """`compute` as `spec`'s asset over `partitions_def`, with `checks`; key, upstream,
    owner, description and metadata come from the catalog entry."""
    return dataset_asset(
        spec, checks, partitions_def, group_name="futures", freshness_policy=FRESHNESS
    )(compute)
