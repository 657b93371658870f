"""A range run's checks judge its whole frame once where a partition's verdict follows from it
(validity without problems, anomaly scores and minute activity per session): every partition
still gets exactly the verdict, metadata and flagged rows it gets judged alone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from market_spine.futures.checks import (
    DAILY_BARS_CHECKS,
    NORMALIZED_BARS_CHECKS,
    RAW_BARS_CHECKS,
    BarsPartition,
    judge_partitions,
)
from market_spine.futures.daily_bars import daily_from_minutes
from market_spine.futures.normalized_bars import accepted_capture
from market_spine.futures.raw_bars import capture_frame
from market_spine.providers.resource import MarketDataResource

DAYS = (date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6))
CAPTURED = datetime(2024, 3, 8, tzinfo=UTC)


def _raw(defects: list[str], symbols: tuple[str, ...] = ("CL", "ES")) -> pl.DataFrame:
    """Captured bars of `symbols` on DAYS, with the simulated market's `defects`."""
    provider = MarketDataResource(defects=defects).get()
    return pl.concat(
        capture_frame(provider.fetch_bars(s, d), d.isoformat(), CAPTURED)
        for s in symbols
        for d in DAYS
    )


def _alone(checks, rows: pl.DataFrame, partitions) -> dict:
    """Each partition judged on its own rows, without the run's frame."""
    verdicts = {}
    for symbol, day in partitions:
        part = rows.filter((pl.col("symbol") == symbol) & (pl.col("trade_date") == day))
        alone = BarsPartition(symbol, day, part)
        verdicts[f"{day.isoformat()}|{symbol}"] = {c.name: c.evaluate(alone) for c in checks}
    return verdicts


def _same(run: dict, alone: dict) -> None:
    assert run.keys() == alone.keys()
    for key, by_check in run.items():
        for name, outcome in by_check.items():
            other = alone[key][name]
            assert (outcome.passed, outcome.warn_only) == (other.passed, other.warn_only), (
                key,
                name,
            )
            assert outcome.metadata == other.metadata, (key, name)
            if other.flagged is None:
                assert outcome.flagged is None, (key, name)
            else:
                assert_frame_equal(outcome.flagged, other.flagged)


@pytest.mark.parametrize("defects", [[], ["spikes"], ["crossed"], ["duplicates"], ["gaps"]])
def test_each_partition_gets_the_verdict_it_gets_alone(defects: list[str]) -> None:
    raw = _raw(defects)
    # One partition of the run has no rows at all: it is judged on an empty frame.
    partitions = [(s, d) for s in ("CL", "ES", "NG") for d in DAYS]
    normalized = accepted_capture(raw)
    for checks, rows in (
        (RAW_BARS_CHECKS, raw),
        (NORMALIZED_BARS_CHECKS, normalized),
        (DAILY_BARS_CHECKS, daily_from_minutes(normalized)),
    ):
        _same(judge_partitions(checks, rows, partitions), _alone(checks, rows, partitions))


def test_spikes_are_flagged_in_their_own_partition() -> None:
    normalized = accepted_capture(_raw(["spikes"]))
    partitions = [(s, d) for s in ("CL", "ES") for d in DAYS]
    verdicts = judge_partitions(NORMALIZED_BARS_CHECKS, normalized, partitions)
    flagged = {k: v["anomalies"].flagged for k, v in verdicts.items()}
    assert any(f.height for f in flagged.values())
    for key, rows in flagged.items():
        day, symbol = key.split("|")
        assert set(rows["symbol"]) <= {symbol}
        assert set(rows["trade_date"]) <= {date.fromisoformat(day)}
