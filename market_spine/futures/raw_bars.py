"""`raw/futures_bars_1m`: every provider call lands as an append-only capture with provenance."""

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.check_kit import partition_checks
from market_spine.futures import checks, keys
from market_spine.futures.assets import futures_asset
from market_spine.futures.capture_guard import REPLACE_TAG, source_conflicts
from market_spine.futures.catalog import RAW_BARS_SPEC
from market_spine.futures.partitions import split_keys
from market_spine.futures.schemas import RAW_BARS
from market_spine.lake.capture import with_provenance
from market_spine.lake.resource import LakeResource
from market_spine.markets.rolls import captured_contracts
from market_spine.providers.base import BarCapture
from market_spine.providers.resource import MarketDataResource

#: The concurrency pool of the capture step: IB's historical pacing counts per account, and
#: the client's pacer holds it within one process only, so one capture step at a time across
#: every run (the deployment sets its limit to 1). A capture from another source takes the
#: slot as well: the pool is fixed when the asset is defined, the source only when it runs.
POOL = "ib"


def capture_frame(capture: BarCapture, trade_date_iso: str, captured_at: datetime) -> pl.DataFrame:
    """The raw rows of one capture: its bars plus capture id, time, source, request and hash."""
    bars = capture.bars.with_columns(trade_date=pl.lit(trade_date_iso).str.to_date())
    rows = with_provenance(bars, capture.source, capture.request, capture.payload, captured_at)
    return conform(rows, RAW_BARS)


def raw_futures_bars_1m(
    context: dg.AssetExecutionContext, lake: LakeResource, market: MarketDataResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Fetch each (symbol, date) session in the run, of the front contract and of the months a
    continuous series or a roll needs (`captured_contracts`), and append all captures as one
    commit."""
    provider = market.get()
    frames: list[pl.DataFrame] = []
    capture_ids: list[str] = []
    by_symbol = split_keys(context.partition_keys)
    partitions = [(s, d) for s, days in by_symbol.items() for d in days]
    kept = _kept_sessions(context, lake, by_symbol, provider.name)
    # An IB provider holds a connection: release it even when a fetch fails.
    with contextlib.closing(provider) if hasattr(provider, "close") else contextlib.nullcontext():
        for symbol, day in partitions:
            if (symbol, day) in kept:
                continue
            capture = provider.fetch_bars(symbol, day)
            frame = capture_frame(capture, day.isoformat(), datetime.now(UTC))
            capture_ids.append(frame["capture_id"][0] if frame.height else "")
            frames.append(frame)
            for later in captured_contracts(symbol, day)[1:]:
                capture = provider.fetch_bars(symbol, day, later.local_symbol)
                frames.append(capture_frame(capture, day.isoformat(), datetime.now(UTC)))
    raw = pl.concat(frames) if frames else pl.DataFrame(schema=RAW_BARS)
    commit = lake.lake.append(
        keys.table(keys.RAW_BARS),
        raw,
        partition_by=["symbol"],
        metadata={"run_id": context.run.run_id, "source": provider.name, "captures": capture_ids},
    )
    verdicts = checks.judge_partitions(checks.RAW_BARS_CHECKS, raw, partitions)
    yield dg.MaterializeResult(
        metadata={
            "rows": raw.height,
            "captures": len(frames),
            "front_captures": len(capture_ids),
            "capture_id": capture_ids[-1] if capture_ids else "",
            "delta_version": commit.version,
            "source": provider.name,
            "kept_from_other_sources": sorted(f"{d}|{s}" for s, d in kept),
        }
    )
    yield from partition_checks(context, keys.RAW_BARS, checks.RAW_BARS_CHECKS, verdicts)


def _kept_sessions(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    by_symbol: dict[str, list[date]],
    source: str,
) -> set[tuple[str, date]]:
    """The run's sessions whose accepted bars came from another source than `source`: left
    uncaptured (each with a logged reason) unless the run is tagged to replace them, so a
    scheduled capture never overwrites a vendor import and the rest of its run goes on."""
    if context.run.tags.get(REPLACE_TAG) == "true":
        return set()
    kept: set[tuple[str, date]] = set()
    for symbol, days in by_symbol.items():
        for conflict in source_conflicts(lake.lake, symbol, days, source):
            context.log.warning(
                f"skipped {conflict.describe()}: a new {source} capture would replace bars from "
                "another source; `market-spine process --replace` replaces them"
            )
            kept.add((symbol, conflict.trade_date))
    return kept


def build_raw_bars(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The `raw/futures_bars_1m` asset and its checks, over a home's partitions
    (`futures_partitions`), in the `ib` pool."""
    return futures_asset(
        raw_futures_bars_1m, RAW_BARS_SPEC, checks.RAW_BARS_CHECKS, partitions_def, pool=POOL
    )
