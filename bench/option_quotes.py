"""A month of 1-minute quotes for one SPXW expiry through the ThetaData adapter and the lake:
rows/s and peak RSS, streamed day by day (ours) against fetching the month then writing it
(baseline), each in its own process so the peaks are comparable; a one-week stream shows the
peak does not grow with the length of the range.

The fake terminal runs in this (parent) process over real HTTP, so its memory is not counted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import report

from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal
from market_spine.lake import Lake
from market_spine.markets.expirations import is_trading_day
from market_spine.options import keys
from market_spine.options.raw_quotes import land_quotes
from market_spine.providers.thetadata import ThetaDataClient

EXPIRATION = date(2024, 4, 19)
MONTH = (date(2024, 3, 1), date(2024, 3, 31))
WEEK = (date(2024, 3, 4), date(2024, 3, 8))


def _days(start: date, end: date) -> list[date]:
    span = (start + timedelta(days=i) for i in range((end - start).days + 1))
    return [d for d in span if is_trading_day(d)]


def child(mode: str, url: str, start: date, end: date, home: Path) -> dict[str, float]:
    """Run one mode in this process and report rows, seconds and peak RSS."""
    lake = Lake(home / "lake")
    days = _days(start, end)
    began = time.perf_counter()
    with ThetaDataClient(url, tier="standard") as client:
        captures = client.iter_quotes("SPXW", EXPIRATION, days)
        if mode == "stream":
            rows = land_quotes(lake, captures, {"run_id": "bench"}).rows
        else:
            # The naive way: hold the whole range, then write it once.
            frames = [
                c.quotes.with_columns(trade_date=pl.lit(d))
                for c, d in zip(captures, days, strict=True)
            ]
            month = pl.concat(frames)
            lake.append(keys.table(keys.RAW_QUOTES), month, partition_by=["root"])
            rows = month.height
    seconds = time.perf_counter() - began
    return {"rows": rows, "days": len(days), "seconds": seconds, "rss": report.peak_rss_mib()}


def _spawn(mode: str, url: str, span: tuple[date, date], work: Path) -> dict[str, float]:
    home = work / f"{mode}_{span[0]}_{span[1]}"
    args = [sys.executable, __file__, "--child", mode, url, str(span[0]), str(span[1]), str(home)]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    shutil.rmtree(home, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Serve the fake terminal, run the three measurements, print them side by side."""
    work = Path(tempfile.mkdtemp(prefix="bench_quotes_"))
    results: dict[str, dict[str, float]] = {}
    try:
        with FakeThetaTerminal(FakeThetaConfig(today=MONTH[1], concurrency=4)) as term:
            for name, mode, span in (
                ("stream, one month (ours)", "stream", MONTH),
                ("stream, one week", "stream", WEEK),
                ("fetch month then write (baseline)", "accumulate", MONTH),
            ):
                report.log(name)
                results[name] = _spawn(mode, term.url, span, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.table(
        f"1-minute quotes of SPXW {EXPIRATION} via the fake ThetaTerminal into the lake",
        ["run", "days", "rows", "seconds", "rows/s", "peak RSS MiB"],
        [
            [
                name,
                r["days"],
                r["rows"],
                round(r["seconds"], 1),
                round(r["rows"] / r["seconds"]),
                round(r["rss"]),
            ]
            for name, r in results.items()
        ],
    )
    report.save("option_quotes", {"expiration": str(EXPIRATION), "runs": results})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, mode, url, start, end, home = sys.argv
        figures = child(mode, url, date.fromisoformat(start), date.fromisoformat(end), Path(home))
        print(json.dumps(figures))
    else:
        main()
