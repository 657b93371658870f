"""Every dataset's checks over the simulated market, judged as the assets judge them but without
Dagster or a lake: the same transformations (capture, normalization, daily bars, greeks,
surface) and the same check declarations, partition by partition.

The simulated market is the embedded default, so it and the checks must agree: any failure a
sweep finds on clean simulated data is a false alarm (a check or the simulator is wrong).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl
from dagster import AssetKey

from market_spine.check_kit import CheckDef, CheckOutcome
from market_spine.futures import checks as futures_checks
from market_spine.futures import keys as futures_keys
from market_spine.futures.daily_bars import daily_from_minutes
from market_spine.futures.normalized_bars import accepted_capture
from market_spine.futures.raw_bars import capture_frame
from market_spine.markets.expirations import ROOTS, is_trading_day
from market_spine.options import checks as option_checks
from market_spine.options import keys as option_keys
from market_spine.options.greeks_eod import greeks_of_days
from market_spine.options.normalized_chain import normalize
from market_spine.options.raw_chain import chain_frame
from market_spine.options.raw_quotes import (
    ROOT,
    judge_quotes,
    merged_verdict,
    nearest_expirations,
    stamp_quotes,
)
from market_spine.options.surface_daily import surfaces_of_days
from market_spine.providers.simulated import SimulatedMarket, SimulatedProvider
from market_spine.providers.simulated_option_quotes import SimulatedQuoteProvider
from market_spine.providers.simulated_options import SimulatedChainProvider, SimulatedOptionMarket


@dataclass
class SweepReport:
    """How many partition verdicts a sweep judged, and the failed ones (`asset:check partition`
    with the outcome's metadata)."""

    evaluations: int = 0
    failures: list[tuple[str, dict[str, object]]] = field(default_factory=list)

    def add(self, asset: str, verdicts: dict[str, dict[str, CheckOutcome]]) -> None:
        """Count one asset's verdicts, keeping the failures."""
        for partition, outcomes in verdicts.items():
            for name, outcome in outcomes.items():
                self.evaluations += 1
                if not outcome.passed:
                    self.failures.append((f"{asset}:{name} {partition}", outcome.metadata))


def weekdays(start: date, end: date) -> list[date]:
    """The weekdays in [start, end]: the futures date partitions."""
    days = (start + timedelta(days=i) for i in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5]


def sweep_futures(
    symbols: Iterable[str], start: date, end: date, seed: int = 7, report: SweepReport | None = None
) -> SweepReport:
    """Capture, normalize and aggregate every weekday partition of each symbol in [start, end],
    judging the raw, normalized and daily checks of each."""
    report = report or SweepReport()
    provider = SimulatedProvider(SimulatedMarket(seed=seed))
    now = datetime.now(UTC)
    for symbol in symbols:
        partitions = [(symbol, d) for d in weekdays(start, end)]
        raw = pl.concat(
            capture_frame(provider.fetch_bars(symbol, d), d.isoformat(), now) for _, d in partitions
        )
        normalized = accepted_capture(raw)
        daily = daily_from_minutes(normalized)
        for key, checks, rows in (
            (futures_keys.RAW_BARS, futures_checks.RAW_BARS_CHECKS, raw),
            (futures_keys.NORMALIZED_BARS, futures_checks.NORMALIZED_BARS_CHECKS, normalized),
            (futures_keys.DAILY_BARS, futures_checks.DAILY_BARS_CHECKS, daily),
        ):
            verdicts = futures_checks.judge_partitions(checks, rows, partitions, now=now)
            report.add(key.to_user_string(), verdicts)
    return report


def option_days(start: date, end: date) -> list[date]:
    """The Cboe trading days in [start, end]: the option partitions."""
    return [d for d in weekdays(start, end) if is_trading_day(d)]


def sweep_options(
    days: Iterable[date],
    seed: int = 7,
    quote_days: Collection[date] | None = None,
    report: SweepReport | None = None,
) -> SweepReport:
    """Capture each day's SPX/SPXW chains (and, on `quote_days`, default every day, the
    intraday quotes of the nearest expirations), normalize them, derive greeks and the
    surface, judging every option check of each day. The chain swept before a day stands for
    its previous trading day's (none for the first day)."""
    report = report or SweepReport()
    market = SimulatedOptionMarket(seed=seed)
    chains, quote_provider = SimulatedChainProvider(market), SimulatedQuoteProvider(market)
    previous: pl.DataFrame | None = None
    for day in days:
        raw = pl.concat(chain_frame(chains.fetch_chain(r, day), day) for r in ROOTS)
        normalized = normalize(raw)
        greeks = greeks_of_days(normalized)
        stages: list[tuple[AssetKey, tuple[CheckDef[option_checks.OptionsDay], ...], pl.DataFrame]]
        stages = [
            (option_keys.RAW_CHAIN, option_checks.RAW_CHAIN_CHECKS, raw),
            (option_keys.NORMALIZED_CHAIN, option_checks.NORMALIZED_CHAIN_CHECKS, normalized),
            (option_keys.GREEKS, option_checks.GREEKS_CHECKS, greeks),
            (option_keys.SURFACE, option_checks.SURFACE_CHECKS, surfaces_of_days(greeks)),
        ]
        before = previous if previous is not None else normalized.clear()
        for key, checks, rows in stages:
            verdicts = option_checks.judge_days(checks, rows, [day], lambda _, b=before: b)
            report.add(key.to_user_string(), verdicts)
        previous = normalized
        if quote_days is None or day in quote_days:
            report.add(
                option_keys.RAW_QUOTES.to_user_string(),
                {day.isoformat(): merged_verdict(list(_quote_outcomes(quote_provider, day)))},
            )
    return report


def _quote_outcomes(
    provider: SimulatedQuoteProvider, day: date
) -> Iterator[dict[str, CheckOutcome]]:
    for expiration in nearest_expirations(day):
        _, stamped = stamp_quotes(provider.fetch_quotes(ROOT, expiration, day))
        yield judge_quotes(stamped, day, expiration)
