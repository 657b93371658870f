"""`normalized/futures_rolls`: the roll table of each root, measured from the captured bars of
the contracts around each roll and replaced per contiguous block of the run's trade dates."""

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta

import dagster as dg
import polars as pl

from market_spine.check_kit import partition_checks
from market_spine.futures import checks, keys
from market_spine.futures.assets import futures_asset, later_keys, record_later
from market_spine.futures.catalog import ROLLS_SPEC
from market_spine.futures.coverage import covered_through
from market_spine.futures.partitions import split_keys
from market_spine.futures.rolls import (
    LOOKAHEAD_DAYS,
    LOOKBACK_DAYS,
    AbsentContract,
    absent_contracts,
    contract_bars,
    held_contracts,
    held_series,
    holdings,
    measure_rolls,
    session_contracts,
    session_volumes,
    stale_sessions,
    stored_series,
    with_accepted,
)
from market_spine.futures.schemas import ROLLS
from market_spine.lake.blocks import contiguous_blocks
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake
from market_spine.markets.instruments import Contract
from market_spine.markets.rolls import ContinuousSymbol, in_roll_window


def read_contract_bars(store: Lake, symbol: str, start: date, end: date) -> pl.DataFrame:
    """Every contract's bars of `symbol` for trade dates [start − LOOKBACK_DAYS, end]: the
    normalized minutes where the root holds that contract that session (with the minutes the
    stream landed), else the newest capture of each session and contract."""
    between = {"trade_date": (start - timedelta(days=LOOKBACK_DAYS), end)}
    bars = contract_bars(
        store.read(keys.table(keys.RAW_BARS), equals={"symbol": symbol}, between=between)
    )
    normalized = keys.table(keys.NORMALIZED_BARS)
    if not store.exists(normalized):
        return bars
    return with_accepted(bars, store.read(normalized, equals={"symbol": symbol}, between=between))


def read_coverage(
    store: Lake, symbol: str, start: date, end: date
) -> dict[tuple[date, str], datetime]:
    """`coverage.covered_through` of `symbol`'s trade dates [start, end]: how far the lake's
    bars of each (session, contract) reach, by its captures and the normalized minutes."""
    between = {"trade_date": (start, end)}
    raw = store.read(
        keys.table(keys.RAW_BARS),
        equals={"symbol": symbol},
        between=between,
        columns=["trade_date", "contract", "capture_id", "request", "captured_at"],
    )
    normalized = keys.table(keys.NORMALIZED_BARS)
    accepted = (
        store.read(
            normalized,
            equals={"symbol": symbol},
            between=between,
            columns=["trade_date", "contract", "ts"],
        )
        if store.exists(normalized)
        else pl.DataFrame()
    )
    return covered_through(raw, accepted)


def absent_series(
    store: Lake, symbol: str, days: Iterable[date]
) -> dict[date, tuple[AbsentContract, ...]]:
    """The continuous series of `symbol` left without bars on each of `days` whose session the
    lake holds bars of (of any contract), because the contract they hold has none; sessions
    with none at all are not loaded, and absent here."""
    wanted = sorted(set(days))
    if not wanted or not store.exists(keys.table(keys.RAW_BARS)):
        return {}
    bars = read_contract_bars(store, symbol, wanted[0], wanted[-1])
    loaded = sorted(set(bars["trade_date"].unique().to_list()) & set(wanted))
    found: dict[date, list[AbsentContract]] = {}
    for absent in absent_contracts(holdings(symbol, loaded, session_volumes(bars)), bars):
        found.setdefault(absent.trade_date, []).append(absent)
    return {day: tuple(found_) for day, found_ in found.items()}


def with_stale_sessions(
    store: Lake, by_symbol: Mapping[str, list[date]], built: dg.AssetKey
) -> dict[str, list[date]]:
    """`by_symbol` (a run's sorted trade dates per symbol) with, for each symbol, the later
    sessions `built` (a continuous table: minutes or days) holds that the run's bars make
    stale (`rolls.stale_sessions`): a volume roll they decide differently, or a roll measured
    on them. Rebuilding those with the run's own keeps every series the same whatever order
    its sessions were loaded in."""
    table = keys.table(built)
    if not store.exists(table):
        return dict(by_symbol)
    out: dict[str, list[date]] = {}
    for symbol, days in by_symbol.items():
        stored = stored_series(
            store.read(
                table,
                equals={"symbol": symbol},
                between={"trade_date": (days[0], days[-1] + timedelta(days=LOOKAHEAD_DAYS))},
                columns=["trade_date", "series", "contract"],
            )
        )
        later = sorted(d for d in stored if d > days[0] and d not in days)
        decided = {}
        if later:
            bars = read_contract_bars(store, symbol, later[0], later[-1])
            decided = held_series(holdings(symbol, later, session_volumes(bars)), bars)
        out[symbol] = sorted({*days, *stale_sessions(symbol, days, stored, decided)})
    return out


def held_on(store: Lake, series: ContinuousSymbol, day: date) -> Contract:
    """The contract `series` holds on trade date `day` by its roll rule, whether or not the
    series was built for that day yet (a live session's is not until a run builds it): the
    calendar rule's front (rank 1: the next); a volume series holds the next contract early
    once a session of the roll window before `day` saw it trade more than the front, as the
    lake's bars of both say (none read outside the window, where no volume roll is)."""
    volumes = roll_volumes(store, series.root, day) if series.rule == "volume" else {}
    return held_contracts(series.root, day, volumes)[series]


def holdings_on(store: Lake, root: str, day: date) -> pl.DataFrame:
    """`rolls.holdings` of `root`'s series on trade date `day` (none on a day without a
    session), decided as `held_on` decides each: what a writer of a live session's minutes
    (the stream) extends the series with, before any run built them."""
    return holdings(root, [day], roll_volumes(store, root, day))


def roll_volumes(store: Lake, root: str, day: date) -> dict[tuple[date, str], int]:
    """The session volumes that decide a volume roll on `day`: the lake's contract bars of the
    roll window's sessions before it; none outside the window (no volume roll there)."""
    if not in_roll_window(root, day) or not store.exists(keys.table(keys.RAW_BARS)):
        return {}
    return session_volumes(read_contract_bars(store, root, day, day))


def read_rolls(store: Lake, symbol: str, start: date, end: date) -> pl.DataFrame:
    """The recorded rolls of `symbol` taking effect in [start, end] (none before the table
    exists)."""
    if not store.exists(keys.table(keys.ROLLS)):
        return pl.DataFrame(schema=ROLLS)
    return store.read(
        keys.table(keys.ROLLS), equals={"symbol": symbol}, between={"trade_date": (start, end)}
    )


def futures_rolls(
    context: dg.AssetExecutionContext, lake: LakeResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Measure and replace the rolls of each contiguous block of the run's partitions, with
    the later sessions whose rolls the run's bars change (`with_stale_sessions`)."""
    store = lake.lake
    frames: list[pl.DataFrame] = []
    partitions: list[tuple[str, date]] = []
    held: dict[tuple[str, date], frozenset[str]] = {}
    rebuilt = with_stale_sessions(store, split_keys(context.partition_keys), keys.CONTINUOUS_BARS)
    for symbol, days in rebuilt.items():
        partitions.extend((symbol, d) for d in days)
        for start, end in contiguous_blocks(days):
            block = [d for d in days if start <= d <= end]
            bars = read_contract_bars(store, symbol, start, end)
            held |= {(symbol, d): c for d, c in session_contracts(bars).items()}
            rows = measure_rolls(symbol, block, bars)
            store.replace(
                keys.table(keys.ROLLS),
                rows,
                equals={"symbol": symbol},
                between={"trade_date": (start, end)},
                partition_by=["symbol"],
                metadata={"run_id": context.run.run_id},
            )
            frames.append(rows)
    rolls = pl.concat(frames) if frames else pl.DataFrame(schema=ROLLS)
    verdicts = checks.judge_rolls_partitions(
        checks.ROLLS_CHECKS, rolls, rolls, partitions, held=held
    )
    metadata = {
        "rows": rolls.height,
        "delta_version": store.version(keys.table(keys.ROLLS)),
        "rolls": [
            f"{r['series']} {r['trade_date']} {r['from_contract']}→{r['to_contract']}"
            for r in rolls.head(20).to_dicts()
        ],
    }
    later = later_keys(context, rebuilt)
    record_later(context, keys.ROLLS, later, **metadata)
    yield dg.MaterializeResult(metadata=metadata)
    yield from partition_checks(context, keys.ROLLS, checks.ROLLS_CHECKS, verdicts, later)


def build_rolls(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The `normalized/futures_rolls` asset and its checks, over a home's partitions."""
    return futures_asset(futures_rolls, ROLLS_SPEC, checks.ROLLS_CHECKS, partitions_def)
