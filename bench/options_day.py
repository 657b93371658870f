"""One full simulated SPX + SPXW end-of-day through all four option assets via Dagster: wall
time per stage and peak RSS, with the same functions called directly as the baseline (the
difference is Dagster's own cost).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import report

from market_spine.options.analytics import chain_greeks, implied_forwards, surface
from market_spine.options.normalized_chain import normalize
from market_spine.providers.simulated_options import SimulatedOptionMarket
from market_spine.runs.launch import materialize_options
from market_spine.settings import Settings

DAY = date(2024, 3, 5)


def direct() -> dict[str, float]:
    """The asset functions' work without Dagster or the lake (ms per stage)."""
    market = SimulatedOptionMarket()
    out: dict[str, float] = {}
    out["chain_ms"], raw = report.time_ms(
        lambda: pl.concat([market.chain(r, DAY) for r in ("SPX", "SPXW")])
    )
    raw = raw.with_columns(trade_date=pl.lit(DAY), capture_id=pl.lit("bench"))
    out["normalize_ms"], chain = report.time_ms(lambda: normalize(raw))
    out["greeks_ms"], greeks = report.time_ms(lambda: chain_greeks(chain, implied_forwards(chain)))
    out["surface_ms"], _ = report.time_ms(lambda: surface(greeks))
    out["contracts"] = chain.height
    return out


def main() -> None:
    """Measure the direct baseline, then the Dagster run on a fresh home."""
    report.log("direct (no Dagster, no lake)")
    base = direct()
    work = Path(tempfile.mkdtemp(prefix="bench_options_"))
    try:
        settings = Settings.from_env({"MARKET_SPINE_HOME": str(work / "home")})
        with dg.instance_for_test() as instance:
            report.log("through Dagster: raw → normalized → greeks → surface, with checks")
            ms, run = report.time_ms(
                lambda: materialize_options(settings, DAY, DAY, instance=instance)
            )
        assert run is not None and run.success, run
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rss = report.peak_rss_mib()
    report.table(
        f"One simulated SPX+SPXW EOD day ({DAY}, {base['contracts']:,} contracts)",
        ["measurement", "ms"],
        [
            ["all four assets + checks via Dagster (wall)", round(ms)],
            ["baseline: simulate both chains", round(base["chain_ms"])],
            ["baseline: normalize", round(base["normalize_ms"])],
            ["baseline: parity forwards + IV + greeks", round(base["greeks_ms"])],
            ["baseline: surface", round(base["surface_ms"])],
        ],
    )
    report.log(f"peak RSS {rss} MiB")
    report.save(
        "options_day", {"day": str(DAY), "wall_ms": ms, "direct": base, "peak_rss_mib": rss}
    )


if __name__ == "__main__":
    main()
