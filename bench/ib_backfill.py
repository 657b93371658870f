"""IB historical backfill through the fake TWS with pacing ON: wall time vs the pacing minimum.

A month × CL/ES/NG of 1-minute sessions is ~66 reqHistoricalData calls; TWS allows 60 per
10 minutes, so at real windows it cannot take less than 10 minutes. Both the fake's pacing
windows and the client's are scaled by SCALE (0.02: 10 min -> 12 s), and we report:
- ours: `IBProvider.fetch_many` (client-side pacer) — wall, requests, pacing violations (must be
  0), and the theoretical minimum the scaled rules allow, the ratio wall / minimum, and the
  implied real-window figure (ratio × the real minimum);
- baseline, same run, same fake: a raw ib_async client firing the same requests without a
  pacer — how many come back as error 162 pacing violations.
Every capture is checked against the simulated market (no lost or duplicated bars).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import date

import report
from ib_async import IB, RequestError
from polars.testing import assert_frame_equal

from market_spine.fakes.tws import FakeTWS, FakeTWSConfig, PacingLimits
from market_spine.markets import calendars
from market_spine.providers.ib import IBProvider, ib_future
from market_spine.providers.ib_connection import IBSettings
from market_spine.providers.ib_pacing import PacingRules
from market_spine.providers.simulated import SimulatedMarket

SCALE = 0.02
SYMBOLS = ("CL", "ES", "NG")
START, END = date(2024, 10, 1), date(2024, 10, 31)


def sessions() -> list[tuple[str, date]]:
    """(symbol, trade date) pairs, date-major so consecutive requests alternate contracts."""
    days = sorted({d for s in SYMBOLS for d in calendars.trading_days(s, START, END)})
    return [(s, d) for d in days for s in SYMBOLS if calendars.is_trading_day(s, d)]


def raw_burst(port: int, items: list[tuple[str, date]]) -> Counter[str]:
    """The same requests from a plain ib_async client, all at once: outcome counts."""

    async def main() -> Counter[str]:
        ib = IB()
        ib.RaiseRequestErrors = True
        await ib.connectAsync("127.0.0.1", port, clientId=77, timeout=10)
        try:
            contracts = {}
            for s, d in items:
                fut, front = ib_future(s, d)
                if front.local_symbol not in contracts:
                    [contracts[front.local_symbol]] = await ib.qualifyContractsAsync(fut)
                    contracts[front.local_symbol].includeExpired = True
            reqs = []
            for s, d in items:
                _, front = ib_future(s, d)
                end = calendars.session(s, d).close.strftime("%Y%m%d-%H:%M:%S")
                reqs.append(
                    ib.reqHistoricalDataAsync(
                        contracts[front.local_symbol], end, "1 D", "1 min", "TRADES", False, 2
                    )
                )
            results = await asyncio.gather(*reqs, return_exceptions=True)
        finally:
            ib.disconnect()
        out: Counter[str] = Counter()
        for r in results:
            if isinstance(r, RequestError):
                out["pacing_162" if "pacing" in r.message else f"error_{r.code}"] += 1
            else:
                out["ok"] += 1
        return out

    return asyncio.run(main())


def main() -> None:
    logging.disable(logging.ERROR)  # the baseline's 162s would flood the output
    items = sessions()
    limits = PacingLimits().scaled(SCALE)
    rules = PacingRules().scaled(SCALE)
    report.log(f"{len(items)} sessions ({START}..{END} × {', '.join(SYMBOLS)}), scale {SCALE}")
    with FakeTWS.running(FakeTWSConfig(pacing=limits)) as tws:
        # Simulate the sessions up front: the fake's CPU time must not skew its arrival stamps.
        tws.server.warm(items)
        with IBProvider(IBSettings(port=tws.port, client_id=1), pacing=rules) as ib:
            ms, caps = report.time_ms(lambda: ib.fetch_many(items))
            retries = ib.retries
        ours = tws.stats()
        report.log("baseline: the same requests from a raw ib_async client, no pacer")
        # Let the scaled windows empty so the baseline starts from a clean slate.
        time.sleep(limits.window_s)
        raw = raw_burst(tws.port, items)
        after = tws.stats()
    sim = SimulatedMarket()
    for (s, d), cap in zip(items, caps, strict=True):
        assert_frame_equal(cap.bars, sim.bars(s, d))
    n_req = sum(len(c.request["windows"]) for c in caps)
    per_contract = Counter(c.request["con_id"] for c in caps)
    minimum = rules.minimum_seconds(n_req, per_contract)
    real_minimum = PacingRules().minimum_seconds(n_req, per_contract)
    wall = ms / 1e3
    ratio = wall / minimum if minimum else float("nan")
    raw_violations = after["pacing_violations"] - ours["pacing_violations"]
    report.table(
        f"IB backfill through the fake TWS, pacing windows × {SCALE} ({n_req} requests)",
        ["client", "wall s", "min s (pacing)", "ratio", "162 pacing", "bars", "real-window est."],
        [
            [
                "ours: IBProvider + pacer",
                wall,
                minimum,
                ratio,
                ours["pacing_violations"],
                sum(c.bars.height for c in caps),
                f"{ratio * real_minimum / 60:.1f} min (min {real_minimum / 60:.0f} min)",
            ],
            [
                "raw ib_async, no pacer",
                None,
                None,
                None,
                raw_violations,
                None,
                f"{raw.get('ok', 0)} of {len(items)} answered",
            ],
        ],
    )
    passed = ours["pacing_violations"] == 0 and raw_violations > 0
    report.log("PASS" if passed else "MISS")
    report.save(
        "ib_backfill",
        {
            "scale": SCALE,
            "sessions": len(items),
            "requests": n_req,
            "wall_s": round(wall, 3),
            "theoretical_min_s": minimum,
            "ratio": round(ratio, 3),
            "real_window_min_s": real_minimum,
            "implied_real_s": round(ratio * real_minimum, 1),
            "pacing_violations": ours["pacing_violations"],
            "client_retries": retries,
            "max_open_historical": ours["max_open_historical"],
            "baseline_outcomes": dict(raw),
            "baseline_pacing_violations": raw_violations,
            "passed": passed,
        },
    )


if __name__ == "__main__":
    main()
