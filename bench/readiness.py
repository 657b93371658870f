"""Readiness latency for a year of every dataset: `Spine.readiness()` over the readiness log,
against the naive answer computed from the data itself, in the same run.

The home holds a year (2023-11-01..2024-10-31) of `normalized/futures_bars_1m` for CL/ES/NG
and of `normalized/options_chain_eod` (both roots; a few simulated chains re-dated across the
year, so the scan reads a year's volume of rows), their certifications, and the readiness log
as the assets write it, with the rows of every dataset computed from them (daily bars, each
continuous series' minutes and daily rows, greeks, surface): one append per trade date and
domain (a run per day), then the same after `maintain()` compacts it.

- ours: `Spine.readiness()` for everything (every dataset, symbol and day of the year): warm
  (one Spine, as the API holds one) p50/p99 of 50; the first read after a run appended to the
  log (20 runs); and cold (a new Spine and Lake per read) p50/p99 of 15. Runs compact the log
  once it holds more than `ledger.COMPACT_AT` files, so "as the runs left it" is steady state;
- baseline: the naive scan — read the year of minute bars and chains, count present minutes
  against each session's calendar grid, expirations per root against the listed ones, no-trade
  contracts, newest capture, and join the newest certification: p50/p99 of 5.

Goal: ours ≤ 200 ms.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dataset
import polars as pl
import report

from market_spine.catalog.vocabulary import conform
from market_spine.certification import ledger
from market_spine.certification.readiness import Completeness, Judgment, readiness_rows
from market_spine.certification.rules import State
from market_spine.certification.tables import (
    ANOMALY_FLAGS_SCHEMA,
    CERTIFICATIONS,
    READINESS_LOG,
)
from market_spine.client import (
    BARS_1M,
    BARS_DAILY,
    CONTINUOUS_1M,
    CONTINUOUS_DAILY,
    OPTION_CHAIN,
    OPTION_GREEKS,
    VOL_SURFACE,
    Spine,
)
from market_spine.lake import Lake
from market_spine.lake.maintenance import maintain
from market_spine.markets import calendars
from market_spine.markets.expirations import ROOTS, is_trading_day, traded_expirations
from market_spine.markets.osi import osi_expr
from market_spine.markets.rolls import series_of
from market_spine.options.schemas import NORMALIZED_CHAIN
from market_spine.providers.simulated_options import SimulatedOptionMarket

START, END = date(2023, 11, 1), date(2024, 10, 31)
GOAL_MS = 200.0
CAPTURE = "01BENCH0000000000000000000"
NOW = datetime(2024, 11, 1, tzinfo=UTC)


class Partition:
    """What readiness_rows needs of a partition."""

    def __init__(self, key: str, trade_date: date, symbol: str | None) -> None:
        self.key, self.trade_date, self.symbol = key, trade_date, symbol


def option_year() -> pl.DataFrame:
    """A year of EOD chains: three simulated days' chains, re-dated onto every trading day."""
    market = SimulatedOptionMarket()
    samples = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)]
    chains = {
        d: pl.concat([market.chain(r, d) for r in ROOTS]).with_columns(
            capture_id=pl.lit(CAPTURE), mid=pl.lit(None, pl.Float64())
        )
        for d in samples
    }
    days = [START + timedelta(n) for n in range((END - START).days + 1)]
    frames = []
    for i, day in enumerate(d for d in days if is_trading_day(d)):
        sample = samples[i % len(samples)]
        frames.append(
            chains[sample].with_columns(
                trade_date=pl.lit(day),
                expiration=pl.col("expiration") + (day - sample),
                days_to_expiry=(pl.col("expiration") - sample).dt.total_days(),
                t=pl.lit(0.1),
            )
        )
    rows = pl.concat(frames).with_columns(osi=osi_expr())
    return conform(rows, NORMALIZED_CHAIN)


def write_home(lake: Lake, bars: pl.DataFrame, chain: pl.DataFrame) -> int:
    """The data, then the certifications and readiness log one run per dataset and day, as
    the assets record them. Returns the readiness rows written."""
    dataset.write_lake(lake, bars)
    lake.replace(OPTION_CHAIN, chain, between={"trade_date": (START, END)}, partition_by=["root"])
    flags = pl.DataFrame(schema=ANOMALY_FLAGS_SCHEMA)
    written = 0
    futures_days = bars.select("symbol", "trade_date").unique().sort("trade_date", "symbol")
    for day, per_day in futures_days.group_by("trade_date", maintain_order=True):
        rows, transitions = [], []
        final = datetime.combine(day[0], datetime.min.time(), UTC) + timedelta(hours=22)
        for symbol in per_day["symbol"]:
            p = Partition(f"{day[0]}|{symbol}", day[0], symbol)
            judged = certified_at(final)
            rows += readiness_rows(
                BARS_1M, p, [Completeness(symbol, "minutes", 1380, 1380, 0, 0)], flags, judged
            )
            rows += readiness_rows(
                BARS_DAILY, p, [Completeness(symbol, "days", 1, 1, 0)], flags, judged
            )
            # Each continuous series is judged apart: a row per series of the root.
            series = [s.name for s in series_of(symbol)]
            minutes = [Completeness(s, "minutes", 1380, 1380, 0, 0) for s in series]
            rows += readiness_rows(CONTINUOUS_1M, p, minutes, flags, judged)
            daily = [Completeness(s, "days", 1, 1, 0) for s in series]
            rows += readiness_rows(CONTINUOUS_DAILY, p, daily, flags, judged)
            transitions.append(_transition(BARS_1M, p, final))
        ledger.record(lake, transitions, [], [], "bench", rows, flags)
        written += len(rows)
    for day in chain["trade_date"].unique().sort():
        p = Partition(day.isoformat(), day, None)
        final = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=22, minutes=15)
        judged = certified_at(final)
        entries = [Completeness(r, "expirations", 40, 40, 0, 100) for r in ROOTS]
        rows = readiness_rows(OPTION_CHAIN, p, entries, flags, judged)
        for name, unit in ((OPTION_GREEKS, "vols"), (VOL_SURFACE, "expiries")):
            owed = [Completeness(r, unit, 40, 40, 0) for r in ROOTS]
            rows += readiness_rows(name, p, owed, flags, judged)
        ledger.record(lake, [_transition(OPTION_CHAIN, p, final)], [], [], "bench", rows, flags)
        written += len(rows)
    return written


def certified_at(at: datetime) -> Judgment:
    """A certified judgment of the bench's capture, final, captured and judged at `at`."""
    return Judgment(State.CERTIFIED, CAPTURE, at, at, at, "bench", 0)


def _transition(name: str, p: Partition, at: datetime) -> dict:
    return {
        "dataset": name,
        "partition": p.key,
        "trade_date": p.trade_date,
        "symbol": p.symbol,
        "state": "certified",
        "reason": "bench",
        "capture_id": CAPTURE,
        "captured_at": at,
        "final_at": at,
        "run_id": "bench",
        "code_version": "bench",
        "delta_version": 0,
        "checks_json": "{}",
        "recorded_at": at,
    }


def naive(lake: Lake) -> pl.DataFrame:
    """Readiness computed from the data: what a reader had to do without the summary."""
    bars = lake.read(
        BARS_1M,
        between={"trade_date": (START, END)},
        columns=["symbol", "trade_date", "capture_id"],
    )
    minutes = bars.group_by("symbol", "trade_date").agg(
        present=pl.len(), capture_id=pl.col("capture_id").max()
    )
    minutes = minutes.with_columns(
        expected=pl.struct("symbol", "trade_date").map_elements(
            lambda s: len(calendars.expected_minutes(s["symbol"], s["trade_date"])),
            return_dtype=pl.Int64(),
        ),
        dataset=pl.lit(BARS_1M),
        unit=pl.lit("minutes"),
    )
    chain = lake.read(
        OPTION_CHAIN,
        between={"trade_date": (START, END)},
        columns=["root", "trade_date", "expiration", "volume", "capture_id"],
    )
    per_root = chain.group_by("root", "trade_date").agg(
        present=pl.col("expiration").n_unique(),
        no_trade=(pl.col("volume") == 0).sum(),
        capture_id=pl.col("capture_id").max(),
    )
    per_root = per_root.with_columns(
        expected=pl.struct("root", "trade_date").map_elements(
            lambda s: len(traded_expirations(s["root"], s["trade_date"])),
            return_dtype=pl.Int64(),
        ),
        dataset=pl.lit(OPTION_CHAIN),
        unit=pl.lit("expirations"),
    ).rename({"root": "symbol"})
    states = ledger.latest_transitions(lake, BARS_1M, START, END)
    options = ledger.latest_transitions(lake, OPTION_CHAIN, START, END)
    both = pl.concat([minutes, per_root], how="diagonal_relaxed")
    return both.join(
        pl.concat([states, options]).select("dataset", "trade_date", "symbol", "state"),
        on=["dataset", "trade_date", "symbol"],
        how="left",
    )


def measure(settings, lake: Lake, label: str) -> dict:
    spine = Spine(settings=settings, warn_empty=False)
    answer = spine.readiness(now=NOW)
    warm = [report.time_ms(lambda: spine.readiness(now=NOW))[0] for _ in range(50)]

    def cold() -> pl.DataFrame:
        fresh = Spine(settings=settings, warn_empty=False)
        fresh.lake = Lake(settings.lake_root)
        fresh._readiness.lake = fresh.lake
        return fresh.readiness(now=NOW)

    cold_ms = [report.time_ms(cold)[0] for _ in range(15)]
    after_run = []
    for n in range(20):
        # A run lands (a re-judged day), then the next read must pick it up.
        day = END - timedelta(days=n)
        p = Partition(f"{day}|CL", day, "CL")
        at = NOW + timedelta(minutes=n)
        judged = certified_at(at)
        entry = [Completeness("CL", "minutes", 1380, 1380, 0, 0)]
        rows = readiness_rows(BARS_1M, p, entry, pl.DataFrame(schema=ANOMALY_FLAGS_SCHEMA), judged)
        ledger.record(lake, [], [], [], "bench", rows)
        after_run.append(report.time_ms(lambda: spine.readiness(now=NOW))[0])
    return {
        "label": label,
        "rows": answer.height,
        "log_files": len(lake.snapshot(READINESS_LOG).files),
        "warm": report.latency(warm),
        "cold": report.latency(cold_ms),
        "after a run": report.latency(after_run),
    }


def main() -> None:
    with dataset.scratch("readiness-") as work:
        settings = dataset.settings_for(work / "home")
        lake = Lake(settings.lake_root)
        bars = dataset.simulate(dataset.SYMBOLS, START, END)
        chain = option_year()
        written = write_home(lake, bars, chain)
        before = measure(settings, lake, "log as the runs left it")
        scan_ms = []
        for _ in range(5):
            ms, scanned = report.time_ms(lambda: naive(Lake(settings.lake_root)))
            scan_ms.append(ms)
        for name in (READINESS_LOG, CERTIFICATIONS):
            maintain(Lake(settings.lake_root), name, retention_hours=0)
        after = measure(settings, Lake(settings.lake_root), "after maintain (compacted)")
        baseline = report.latency(scan_ms)
        rows = [
            (r["label"], r["rows"], r["log_files"], r[kind]["p50_ms"], r[kind]["p99_ms"], kind)
            for r in (before, after)
            for kind in ("warm", "after a run", "cold")
        ]
        rows.append(
            (
                "naive scan of the data",
                scanned.height,
                None,
                baseline["p50_ms"],
                baseline["p99_ms"],
                "-",
            )
        )
        report.table(
            f"Readiness, a year × every dataset ({bars.height:,} bars, {chain.height:,} "
            f"contract rows, {written:,} readiness rows)",
            ["reader", "rows", "log files", "p50 ms", "p99 ms", "cache"],
            rows,
        )
        worst = max(
            r[k]["p99_ms"] for r in (before, after) for k in ("warm", "after a run", "cold")
        )
        verdict = "met" if worst <= GOAL_MS else "MISSED"
        print(f"goal ≤ {GOAL_MS:.0f} ms: worst p99 {worst:.1f} ms — {verdict}")
        report.save(
            "readiness",
            {
                "bars": bars.height,
                "contract_rows": chain.height,
                "readiness_rows": written,
                "ours": [before, after],
                "baseline_naive_scan": {"rows": scanned.height, **baseline},
                "goal_ms": GOAL_MS,
                "worst_p99_ms": worst,
            },
        )


if __name__ == "__main__":
    main()
