"""`normalized/futures_continuous_1m`: each continuous series' minutes, unadjusted, from the
captured bars of the contract it holds; replaced per contiguous block of the run's trade dates."""

from collections.abc import Iterator, Mapping
from datetime import date, datetime

import dagster as dg
import polars as pl

from market_spine.certification.certify import Partition
from market_spine.certification.derived import judge_derived_asset
from market_spine.certification.readiness import Completeness
from market_spine.check_kit import CheckOutcome, partition_checks
from market_spine.futures import checks, keys
from market_spine.futures.assets import (
    PARTITION_COLUMNS,
    futures_asset,
    later_keys,
    record_later,
    run_partitions,
)
from market_spine.futures.catalog import CERTIFIED_FROM, CONTINUOUS_BARS_SPEC
from market_spine.futures.continuous import continuous_minutes
from market_spine.futures.partitions import split_keys
from market_spine.futures.roll_table import (
    absent_series,
    read_contract_bars,
    read_coverage,
    read_rolls,
    with_stale_sessions,
)
from market_spine.futures.rolls import AbsentContract, holdings, session_volumes
from market_spine.futures.schemas import CONTINUOUS_BARS, ROLLS
from market_spine.lake.blocks import Previous, contiguous_blocks
from market_spine.lake.resource import LakeResource
from market_spine.markets import calendars
from market_spine.providers.resource import MarketDataResource


def build_block(bars: pl.DataFrame, symbol: str, start: date, end: date) -> pl.DataFrame:
    """The continuous minutes of `symbol` for the trading days in [session before start, end],
    from its contract bars (reaching `rolls.LOOKBACK_DAYS` before `start`)."""
    prev = calendars.previous_trading_day(symbol, start) or start
    days = calendars.trading_days(symbol, prev, end)
    return continuous_minutes(bars, holdings(symbol, days, session_volumes(bars)))


def held_by_series(rows: pl.DataFrame) -> dict[str, tuple[str, str | None]]:
    """Each series' contract and newest capture in one partition's continuous rows (minutes
    or daily rows): a series is judged on its own contract, not on the front's."""
    if rows.is_empty():
        return {}
    held = rows.group_by("series").agg(pl.col("contract").last(), pl.col("capture_id").max())
    return {s: (c, capture) for s, c, capture in held.iter_rows()}


def series_completeness(
    p: Partition, verdicts: Mapping[str, CheckOutcome], rows: pl.DataFrame
) -> list[Completeness]:
    """Each continuous series of the root judged that session, in minutes, with its own
    completeness verdict, contract and capture: one series' gap fails only that series, and
    a series holding another contract than the root's bars stands on that contract's. A
    series whose contract has no bars that session is missing: none of its minutes present,
    the reason naming the contract and how to load it."""
    held = held_by_series(rows)
    found = verdicts["completeness"].metadata
    owed = len(calendars.expected_minutes(p.symbol, p.trade_date)) if found["absent"] else 0
    absent = [
        Completeness(
            a["series"], "minutes", owed, 0, owed, 0, instrument=a["contract"], absent=a["reason"]
        )
        for a in found["absent"]
    ]
    return absent + [
        Completeness(
            name,
            "minutes",
            counts["expected_bars"],
            counts["present_bars"],
            counts["missing_minutes"],
            counts["no_trade_minutes"],
            verdicts={
                "completeness": CheckOutcome(
                    counts["passed"], {"series": name}, warn_only=counts["warn_only"]
                )
            },
            instrument=held.get(name, (None, None))[0],
            capture_id=held.get(name, (None, None))[1],
        )
        for name, counts in found["by_series"].items()
    ]


def futures_continuous_1m(
    context: dg.AssetExecutionContext, lake: LakeResource, market: MarketDataResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Rebuild each contiguous block of the run's partitions, with the later sessions whose
    series the run's bars change (`with_stale_sessions`), then judge each partition
    against the previous session (for the jumps at rolls) and the recorded rolls, and from
    its session's certification (the captured front month's)."""
    store = lake.lake
    previous = Previous()
    written: list[pl.DataFrame] = []
    context_rows: list[pl.DataFrame] = []
    recorded: list[pl.DataFrame] = []
    partitions: list[tuple[str, date]] = []
    absent: dict[tuple[str, date], tuple[AbsentContract, ...]] = {}
    covered: dict[tuple[str, date], dict[str, datetime]] = {}
    rebuilt = with_stale_sessions(store, split_keys(context.partition_keys), keys.CONTINUOUS_BARS)
    for symbol, days in rebuilt.items():
        partitions.extend((symbol, d) for d in days)
        absent |= {(symbol, d): a for d, a in absent_series(store, symbol, days).items()}
        for start, end in contiguous_blocks(days):
            series = build_block(read_contract_bars(store, symbol, start, end), symbol, start, end)
            rows = series.filter(pl.col("trade_date").is_between(start, end))
            replacement = store.replace(
                keys.table(keys.CONTINUOUS_BARS),
                rows,
                equals={"symbol": symbol},
                between={"trade_date": (start, end)},
                partition_by=["symbol"],
                metadata={"run_id": context.run.run_id},
                return_replaced=True,
            )
            previous.add(replacement)
            written.append(rows)
            context_rows.append(series.filter(pl.col("trade_date") < start))
            recorded.append(read_rolls(store, symbol, start, end))
            for (day, contract), through in read_coverage(store, symbol, start, end).items():
                covered.setdefault((symbol, day), {})[contract] = through
    bars = pl.concat(written) if written else pl.DataFrame(schema=CONTINUOUS_BARS)
    before = pl.concat(context_rows) if context_rows else None
    rolls = pl.concat(recorded) if recorded else pl.DataFrame(schema=ROLLS)
    verdicts = checks.judge_rolls_partitions(
        checks.CONTINUOUS_BARS_CHECKS,
        bars,
        rolls,
        partitions,
        before=before,
        now=market.now(),
        absent=absent,
        covered=covered,
    )
    judged = judge_derived_asset(
        context,
        store,
        CONTINUOUS_BARS_SPEC.name,
        CERTIFIED_FROM,
        checks.CONTINUOUS_BARS_CHECKS,
        bars,
        PARTITION_COLUMNS,
        run_partitions(context, rebuilt),
        verdicts,
        market.now(),
        series_completeness,
        (CONTINUOUS_BARS_SPEC, previous),
    )
    metadata = {
        "rows": bars.height,
        "series": sorted(bars["series"].unique().to_list()),
        "delta_version": store.version(keys.table(keys.CONTINUOUS_BARS)),
        **judged.metadata(),
    }
    later = later_keys(context, rebuilt)
    record_later(context, keys.CONTINUOUS_BARS, later, **metadata)
    yield dg.MaterializeResult(metadata=metadata)
    yield from partition_checks(
        context, keys.CONTINUOUS_BARS, checks.CONTINUOUS_BARS_CHECKS, verdicts, later
    )


def build_continuous_bars(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The `normalized/futures_continuous_1m` asset and its checks, over a home's partitions."""
    return futures_asset(
        futures_continuous_1m,
        CONTINUOUS_BARS_SPEC,
        checks.CONTINUOUS_BARS_CHECKS,
        partitions_def,
    )
