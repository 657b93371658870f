"""How a futures asset is declared: its catalog entry's asset over a home's trade date × symbol
partitions (the catalog's `dataset_asset`). They carry no Dagster freshness policy: its clock
is wall time, red across every halt and weekend; the freshness check (operations) is the SLA."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from functools import partial
from typing import Any

import dagster as dg
import polars as pl

from market_spine.catalog.dagster_metadata import dataset_asset
from market_spine.catalog.vocabulary import DatasetSpec
from market_spine.certification.certify import Partition
from market_spine.check_kit import CheckDef
from market_spine.futures import keys
from market_spine.futures.partitions import partition_key, split_keys
from market_spine.lake.blocks import Previous, rebuild_blocks
from market_spine.lake.store import Lake
from market_spine.markets.calendars import data_final_at


def futures_asset(
    compute: Callable[..., Any],
    spec: DatasetSpec,
    checks: Sequence[CheckDef[Any]],
    partitions_def: dg.PartitionsDefinition,
    **asset_kwargs: Any,
) -> dg.AssetsDefinition:
    """`compute` as `spec`'s asset over `partitions_def`, with `checks`; key, upstream,
    owner, description and metadata come from the catalog entry; `asset_kwargs` go to
    `dg.asset` (e.g. `pool`)."""
    return dataset_asset(spec, checks, partitions_def, group_name="futures", **asset_kwargs)(
        compute
    )


def rebuild_partitions(
    context: dg.AssetExecutionContext,
    store: Lake,
    source: dg.AssetKey,
    target: dg.AssetKey,
    compute: Callable[[pl.DataFrame], pl.DataFrame],
    schema: dict[str, pl.DataType],
    metadata_of: Callable[[pl.DataFrame], dict[str, Any]] | None = None,
    narrow: Callable[[str, pl.DataFrame, pl.DataFrame], Mapping[date, Any]] | None = None,
    previous: Previous | None = None,
    by_symbol: Mapping[str, list[date]] | None = None,
) -> tuple[pl.DataFrame, list[tuple[str, date]]]:
    """Rebuild the run's partitions of `target` from `source`, symbol by symbol and block by
    block of contiguous trade dates (one atomic commit each): every row the partitions hold
    after it, and the (symbol, trade date) partitions the run covered, for the checks to judge
    one by one (`by_symbol`: trade dates per symbol, when more than the run's). `narrow(symbol,
    source rows, rows)` bounds the days the rows cover only in part
    (`rebuild_blocks`); a `previous` given gathers what the partitions held before."""
    frames: list[pl.DataFrame] = []
    partitions: list[tuple[str, date]] = []
    chosen = split_keys(context.partition_keys) if by_symbol is None else by_symbol
    for symbol, days in chosen.items():
        partitions.extend((symbol, d) for d in days)
        frames.append(
            rebuild_blocks(
                store,
                days,
                keys.table(source),
                keys.table(target),
                compute,
                context.run.run_id,
                ["symbol"],
                equals={"symbol": symbol},
                metadata_of=metadata_of,
                narrow=partial(narrow, symbol) if narrow else None,
                previous=previous,
            )
        )
    return (pl.concat(frames) if frames else pl.DataFrame(schema=schema)), partitions


#: The columns that select one partition's rows, in the order of a Partition's values.
PARTITION_COLUMNS = ("symbol", "trade_date")


def run_partitions(
    context: dg.AssetExecutionContext, by_symbol: Mapping[str, Sequence[date]] | None = None
) -> list[Partition]:
    """The run's (symbol, trade date) partitions as certification sees them: rows selected by
    symbol and trade date, final at the session's close. `by_symbol` (trade dates per symbol)
    replaces the run's own when an asset rebuilds more (`later_keys`)."""
    chosen = split_keys(context.partition_keys) if by_symbol is None else by_symbol
    return [
        Partition(
            str(partition_key(day, symbol)), day, symbol, (symbol, day), data_final_at(symbol, day)
        )
        for symbol, days in chosen.items()
        for day in days
    ]


def later_keys(
    context: dg.AssetExecutionContext, rebuilt: Mapping[str, Sequence[date]]
) -> list[str]:
    """The partition keys among `rebuilt` (trade dates per symbol) the run did not select:
    later sessions an asset rebuilt with the run's because the run's bars changed them."""
    selected = {str(k) for k in context.partition_keys}
    found = (str(partition_key(d, s)) for s, days in rebuilt.items() for d in days)
    return [k for k in found if k not in selected]


def record_later(
    context: dg.AssetExecutionContext, asset: dg.AssetKey, later: Sequence[str], **metadata: Any
) -> None:
    """Record the materialization of each `later` partition of `asset` rebuilt by this step,
    so Dagster shows it materialized by this run and its checks can point at it (the step's
    MaterializeResult speaks for the run's own partitions only)."""
    for key in later:
        context.log_event(
            dg.AssetMaterialization(
                asset_key=asset,
                partition=key,
                metadata={**metadata, "rebuilt_after": "an earlier session this run loaded"},
            )
        )
