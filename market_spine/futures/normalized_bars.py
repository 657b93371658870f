"""`normalized/futures_bars_1m`: the accepted capture of each session, one row per (symbol, ts),
replaced atomically per partition so reruns are idempotent and every state stays readable."""

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import dagster as dg
import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.certification.certify import (
    Before,
    Judged,
    Partition,
    certify,
    selected_checks,
    with_certified,
)
from market_spine.certification.readiness import Completeness
from market_spine.certification.withdrawal import dependents
from market_spine.check_kit import partition_checks
from market_spine.futures import checks, keys
from market_spine.futures.assets import (
    PARTITION_COLUMNS,
    futures_asset,
    rebuild_partitions,
    run_partitions,
)
from market_spine.futures.catalog import CERTIFIED_FROM, NORMALIZED_BARS_SPEC
from market_spine.futures.coverage import partial_windows
from market_spine.futures.roll_table import absent_series
from market_spine.futures.schemas import NORMALIZED_BARS
from market_spine.lake.blocks import Previous
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake
from market_spine.markets.instruments import front_contract
from market_spine.providers.resource import MarketDataResource


def accepted_capture(raw: pl.DataFrame) -> pl.DataFrame:
    """One contract's bars per (symbol, trade_date), one row per bar minute: the newest capture
    of the roll rule's front contract. Bars of any other month (the later months captured for
    the continuous series, a vendor file of the next contract) never stand in for the root:
    a session whose front contract has no bars has none here, and its completeness says so."""
    if raw.is_empty():
        return conform(raw, NORMALIZED_BARS)
    sessions = raw.select("symbol", "trade_date").unique()
    fronts = pl.DataFrame(
        [(s, d, front_contract(s, d).local_symbol) for s, d in sessions.iter_rows()],
        schema={"symbol": pl.String(), "trade_date": pl.Date(), "contract": pl.String()},
        orient="row",
    )
    held = raw.join(fronts, on=["symbol", "trade_date", "contract"])
    newest = held.group_by("symbol", "trade_date").agg(pl.col("capture_id").max())
    return conform(
        held.join(newest, on=["symbol", "trade_date", "capture_id"])
        .unique(["symbol", "ts"], keep="last", maintain_order=True)
        .sort("symbol", "ts"),
        NORMALIZED_BARS,
    )


def minute_completeness(
    symbol: str | None,
    counts: dict[str, Any],
    contract: str | None = None,
    absent: str | None = None,
) -> Completeness:
    """A session's completeness for readiness, from its completeness check's counts, of the
    `contract` its bars are of (None: not known); `absent` says why the session has none of
    its front contract's bars while it holds other months' (it is missing, not failed)."""
    return Completeness(
        symbol,
        "minutes",
        counts["expected_bars"],
        counts["present_bars"],
        counts["missing_minutes"],
        counts["no_trade_minutes"],
        instrument=contract,
        absent=absent,
    )


def absent_fronts(
    store: Lake, bars: pl.DataFrame, partitions: Sequence[Partition]
) -> dict[str, str]:
    """Why each of `partitions` without rows in `bars` (accepted minutes) has none, when the
    lake holds other months' bars of that session: its front contract named with how to load
    it, by partition key. Sessions holding no bars at all are not named (not loaded)."""
    held = set(bars.select("symbol", "trade_date").unique().iter_rows()) if bars.height else set()
    empty: dict[str, list[Partition]] = {}
    for p in partitions:
        if p.symbol is not None and (p.symbol, p.trade_date) not in held:
            empty.setdefault(p.symbol, []).append(p)
    found: dict[str, str] = {}
    for symbol, days in empty.items():
        absent = absent_series(store, symbol, [p.trade_date for p in days])
        for p in days:
            front = [a for a in absent.get(p.trade_date, ()) if a.series == f"{symbol}.c.0"]
            if front:
                found[p.key] = front[0].front_reason(symbol)
    return found


def session_contracts(bars: pl.DataFrame) -> dict[tuple[str, date], str]:
    """The contract of each (symbol, trade date)'s bars (the accepted capture's one)."""
    if bars.is_empty():
        return {}
    held = bars.group_by("symbol", "trade_date").agg(pl.col("contract").unique().sort())
    return {(s, d): ",".join(c) for s, d, c in held.iter_rows()}


def normalized_futures_bars_1m(
    context: dg.AssetExecutionContext, lake: LakeResource, market: MarketDataResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Replace each contiguous block of the run's partitions with the newest captures, then
    certify each partition. A capture of a live session replaces only the minutes it covers:
    the later minutes the stream landed stay, and the checks judge the partition whole."""
    store = lake.lake
    certifiable = run_partitions(context)
    previous = Previous()
    bars, partitions = rebuild_partitions(
        context,
        store,
        keys.RAW_BARS,
        keys.NORMALIZED_BARS,
        accepted_capture,
        NORMALIZED_BARS,
        metadata_of=lambda rows: {"captures": sorted(rows["capture_id"].unique())},
        narrow=partial_windows,
        previous=previous,
    )
    verdicts = checks.judge_partitions(
        checks.NORMALIZED_BARS_CHECKS, bars, partitions, now=market.now()
    )
    complete = {k: v[checks.MINUTE_COMPLETENESS.name].metadata for k, v in verdicts.items()}
    contracts = session_contracts(bars)
    absent = absent_fronts(store, bars, certifiable)
    judged = Judged(
        checks.NORMALIZED_BARS_CHECKS, verdicts, selected_checks(context, keys.NORMALIZED_BARS)
    )
    certified = certify(
        store,
        NORMALIZED_BARS_SPEC,
        context.run.run_id,
        certifiable,
        PARTITION_COLUMNS,
        Before.gathered(previous),
        bars,
        judged,
        market.now(),
        {
            p.key: [
                minute_completeness(
                    p.symbol,
                    complete[p.key],
                    # The root is judged on its front contract, whether or not it has bars.
                    contracts.get((p.symbol, p.trade_date))
                    or (front_contract(p.symbol, p.trade_date).local_symbol if p.symbol else None),
                    absent.get(p.key),
                )
            ]
            for p in certifiable
        },
        dependents(NORMALIZED_BARS_SPEC.name, CERTIFIED_FROM),
    )
    yield dg.MaterializeResult(
        metadata={
            "rows": bars.height,
            "delta_version": store.version(keys.table(keys.NORMALIZED_BARS)),
            "capture_id": bars["capture_id"].max() if bars.height else "",
            "expected_bars": sum(c["expected_bars"] for c in complete.values()),
            "present_bars": sum(c["present_bars"] for c in complete.values()),
            **certified.metadata(),
        }
    )
    yield from partition_checks(
        context,
        keys.NORMALIZED_BARS,
        with_certified(checks.NORMALIZED_BARS_CHECKS),
        certified.verdicts(verdicts),
    )


def build_normalized_bars(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The `normalized/futures_bars_1m` asset and its checks, over a home's partitions
    (`futures_partitions`)."""
    return futures_asset(
        normalized_futures_bars_1m,
        NORMALIZED_BARS_SPEC,
        with_certified(checks.NORMALIZED_BARS_CHECKS),
        partitions_def,
    )
