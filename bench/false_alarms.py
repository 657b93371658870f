"""False alarms of the checks on five simulated years: every dataset's checks, partition by
partition as the assets judge them (`market_spine.operations.check_sweep`), on the clean
simulated market. Any failure is a false alarm.

- futures: every weekday partition of CL, ES and NG (raw, normalized, daily checks);
- options: every `--option-stride`-th trading day with its previous trading day (EOD chains,
  normalized chain, greeks, surface) and that day's intraday quotes.
Baseline, same run: the futures completeness false alarms under the previous no-trade rule (a
Poisson market at the 5 % quantile of the neighbouring trade counts, missing past e^-14).

Usage: .venv/bin/python bench/false_alarms.py [--start 2021-01-01] [--end 2025-12-31]
       [--option-stride 5]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from market_spine.definitions import silence_dagster_previews
from market_spine.futures.checks import minute_runs
from market_spine.markets import calendars
from market_spine.operations.check_sweep import (
    SweepReport,
    option_days,
    sweep_futures,
    sweep_options,
)
from market_spine.providers.simulated import SimulatedMarket

SYMBOLS = ("CL", "ES", "NG")
RESULTS = Path(__file__).parent / "results" / "false_alarms.json"
_MINUTE = 60_000_000_000


def previous_rule_alarms(start: date, end: date) -> int:
    """Sessions whose absent minutes the previous no-trade rule called missing."""
    market = SimulatedMarket()
    alarms = 0
    for symbol in SYMBOLS:
        for session in calendars.sessions(symbol, start, end):
            bars = market.bars(symbol, session.trade_date)
            ts = bars["ts"].dt.epoch("ns").to_numpy()
            trades = bars["trades"].to_numpy().astype(np.float64)
            grid = session.expected_minutes().asi8
            absent = np.setdiff1d(grid, ts)
            if any(_previous_missing(s, n, grid, ts, trades) for s, n in minute_runs(absent)):
                alarms += 1
    return alarms


def _previous_missing(
    start: int, length: int, grid: np.ndarray, ts: np.ndarray, trades: np.ndarray
) -> bool:
    if length > 30:
        return True
    lo, hi = start - 30 * _MINUTE, start + (length + 30) * _MINUTE
    minutes = int(np.searchsorted(grid, hi) - np.searchsorted(grid, lo)) - length
    if minutes < 5:
        return False
    counts = trades[np.searchsorted(ts, lo) : np.searchsorted(ts, hi)]
    zeros = np.zeros(max(0, minutes - counts.size))
    rate = float(np.quantile(np.concatenate((counts, zeros)), 0.05))
    return rate * length > 14.0


def main() -> None:
    silence_dagster_previews()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, default=date(2021, 1, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2025, 12, 31))
    parser.add_argument("--option-stride", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    futures = sweep_futures(SYMBOLS, args.start, args.end)
    futures_s = time.perf_counter() - started

    started = time.perf_counter()
    days = option_days(args.start, args.end)
    options = SweepReport()
    for i in range(1, len(days), args.option_stride):
        sweep_options([days[i - 1], days[i]], quote_days={days[i]}, report=options)
    options_s = time.perf_counter() - started

    started = time.perf_counter()
    baseline = previous_rule_alarms(args.start, args.end)
    baseline_s = time.perf_counter() - started

    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "range": [args.start.isoformat(), args.end.isoformat()],
        "option_stride": args.option_stride,
        "futures": {
            "evaluations": futures.evaluations,
            "false_alarms": len(futures.failures),
            "failures": [f for f, _ in futures.failures],
            "seconds": round(futures_s, 1),
        },
        "options": {
            "evaluations": options.evaluations,
            "false_alarms": len(options.failures),
            "failures": [f for f, _ in options.failures],
            "seconds": round(options_s, 1),
        },
        "baseline_previous_no_trade_rule": {
            "sessions_with_false_alarms": baseline,
            "seconds": round(baseline_s, 1),
        },
    }
    print(f"false alarms over {args.start}..{args.end} of the simulated market")
    print(f"{'':28}{'evaluations':>12}{'false alarms':>14}{'seconds':>9}")
    for name in ("futures", "options"):
        r = result[name]
        print(f"{name:28}{r['evaluations']:>12,}{r['false_alarms']:>14}{r['seconds']:>9}")
    print(f"{'baseline: previous no-trade':28}{'':>12}{baseline:>14}{round(baseline_s, 1):>9}")
    for failure in (*result["futures"]["failures"], *result["options"]["failures"])[:20]:
        print("  ", failure)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
