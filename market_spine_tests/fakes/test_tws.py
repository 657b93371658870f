"""The fake TWS against the real ib_async client over loopback: start-up, contracts, history,
pacing (error 162), unsolicited events and real-time bars."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from ib_async import IB, Future, RequestError

from market_spine.fakes.tws import FakeTWS, FakeTWSConfig, PacingLimits
from market_spine.fakes.tws.realtime import split_minute
from market_spine.providers.simulated import SimulatedMarket

pytestmark = pytest.mark.timeout(60)

SESSION_END = datetime(2024, 11, 13, 22, 0, tzinfo=UTC)  # CL trade date 2024-11-13 closes 16:00 CT


def run_client(port: int, body: Callable[[IB], Coroutine[Any, Any, Any]], client_id: int = 1):
    """Connect a real ib_async client to the fake, run `body(ib)`, disconnect."""

    async def main() -> Any:
        ib = IB()
        ib.RaiseRequestErrors = True
        await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=5)
        try:
            return await body(ib)
        finally:
            ib.disconnect()

    return asyncio.run(main())


def expired(symbol: str, month: str, exchange: str) -> Future:
    c = Future(symbol, month, exchange)
    c.includeExpired = True
    return c


def test_connect_answers_every_startup_request() -> None:
    with FakeTWS.running() as tws:

        async def body(ib: IB) -> tuple[list[str], datetime]:
            return ib.managedAccounts(), await ib.reqCurrentTimeAsync()

        accounts, now = run_client(tws.port, body)
        stats = tws.stats()
    assert accounts == ["DU1234567"]
    assert abs((now - datetime.now(UTC)).total_seconds()) < 5
    for name in ("positions", "open_orders", "completed_orders", "account_updates", "executions"):
        assert stats["requests"][name] == 1, name
    assert stats["requests"]["account_updates_multi"] == 1
    assert stats["connections"] == 1


def test_contract_details_by_month_local_symbol_and_unknown() -> None:
    with FakeTWS.running() as tws:

        async def body(ib: IB) -> tuple:
            cl, ng, es = await ib.qualifyContractsAsync(
                expired("CL", "202412", "NYMEX"),
                expired("NG", "202501", "NYMEX"),
                expired("ES", "202412", "CME"),
            )
            by_local = Future(localSymbol="CLF5", exchange="NYMEX")
            by_local.includeExpired = True
            [local] = await ib.qualifyContractsAsync(by_local)
            with pytest.raises(RequestError) as unknown:
                await ib.qualifyContractsAsync(expired("ES", "202501", "CME"))  # not listed
            with pytest.raises(RequestError) as not_expired_ok:
                await ib.qualifyContractsAsync(Future("CL", "202412", "NYMEX"))  # expired
            return cl, ng, es, local, unknown.value, not_expired_ok.value

        cl, ng, es, local, unknown, expired_err = run_client(tws.port, body)
    assert (cl.localSymbol, cl.exchange, cl.lastTradeDateOrContractMonth) == (
        "CLZ4",
        "NYMEX",
        "20241120",
    )
    assert (ng.localSymbol, es.localSymbol, es.exchange) == ("NGF5", "ESZ4", "CME")
    assert es.multiplier == "50" and cl.conId != ng.conId
    assert local.localSymbol == "CLF5" and local.lastTradeDateOrContractMonth == "20241219"
    assert unknown.code == 200 and expired_err.code == 200


def test_history_is_the_simulated_session_for_each_end_form() -> None:
    sim = SimulatedMarket().bars("CL", date(2024, 11, 13))
    with FakeTWS.running() as tws:

        async def body(ib: IB) -> list:
            c = expired("CL", "202501", "NYMEX")
            await ib.qualifyContractsAsync(c)
            c.includeExpired = True
            out = []
            for end in (SESSION_END, "20241113-22:00:00", "20241113 16:00:00 US/Central"):
                out.append(
                    await ib.reqHistoricalDataAsync(
                        c, end, "1 D", "1 min", "TRADES", False, formatDate=2
                    )
                )
            return out

        results = run_client(tws.port, body)
    for bars in results:
        got = pl.DataFrame(
            {
                "ts": [b.date for b in bars],
                "open": [b.open for b in bars],
                "close": [b.close for b in bars],
                "volume": [int(b.volume) for b in bars],
                "vwap": [b.average for b in bars],
                "trades": [b.barCount for b in bars],
            }
        ).with_columns(pl.col("ts").dt.cast_time_unit("ns"))
        assert got.equals(sim.select(got.columns))


def test_pacing_violations_are_error_162_and_counted() -> None:
    limits = PacingLimits(identical_s=5.0, contract_window_s=5.0, window_s=5.0, window_max=8)
    with FakeTWS.running(FakeTWSConfig(pacing=limits)) as tws:

        async def body(ib: IB) -> list:
            c = expired("CL", "202501", "NYMEX")
            await ib.qualifyContractsAsync(c)
            c.includeExpired = True
            ends = [SESSION_END - timedelta(days=i) for i in range(7)] + [SESSION_END]
            tasks = [
                ib.reqHistoricalDataAsync(c, e, "1 D", "1 min", "TRADES", False, formatDate=2)
                for e in ends
            ]
            return await asyncio.gather(*tasks, return_exceptions=True)

        results = run_client(tws.port, body)
        stats = tws.stats()
    errors = [r for r in results if isinstance(r, RequestError) and "pacing" in r.message]
    assert len(errors) == 3  # 6th and 7th for one contract within the window, then the repeat
    assert all(e.code == 162 for e in errors)
    assert sum(isinstance(r, list) and len(r) > 0 for r in results) == 3  # weekend: no data
    assert stats["pacing_violations"] == 3
    assert stats["pacing_violations_by_rule"] == {"contract": 2, "identical": 1}


def test_unsolicited_connectivity_events_reach_the_client() -> None:
    with FakeTWS.running() as tws:
        seen: list[int] = []

        async def body(ib: IB) -> None:
            ib.errorEvent += lambda req_id, code, msg, c: seen.append(code) if req_id == -1 else 0
            await asyncio.to_thread(tws.send_event, 1100)
            await asyncio.to_thread(tws.send_event, 1102)
            await asyncio.sleep(0.2)

        run_client(tws.port, body)
    assert seen[-2:] == [1100, 1102]


def test_real_time_bars_every_5_seconds_aggregate_to_the_minute_bars() -> None:
    start = datetime(2024, 11, 13, 15, 0, 1, tzinfo=UTC)
    config = FakeTWSConfig(start=start, speed=200.0)  # a 5-second bar every 25 ms
    with FakeTWS.running(config) as tws:

        async def body(ib: IB) -> list:
            [c] = await ib.qualifyContractsAsync(Future("CL", "202501", "NYMEX"))
            bars = ib.reqRealTimeBars(c, 5, "TRADES", False)
            await asyncio.sleep(1.4)  # > 4 market minutes
            ib.cancelRealTimeBars(bars)
            return list(bars)

        bars = run_client(tws.port, body)
    times = [b.time.astimezone(UTC) for b in bars]
    assert len(bars) >= 36
    assert all(b - a == timedelta(seconds=5) for a, b in itertools.pairwise(times))
    sim = SimulatedMarket().bars("CL", date(2024, 11, 13))
    minute = pl.DataFrame(
        {
            "ts": times,
            "open": [b.open_ for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "volume": [int(b.volume) for b in bars],
            "trades": [b.count for b in bars],
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("ns").dt.truncate("1m"))
    agg = minute.group_by("ts", maintain_order=True).agg(
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        pl.col("volume").sum(),
        pl.col("trades").sum(),
        pl.len().alias("n"),
    )
    full = agg.filter(pl.col("n") == 12).drop("n")
    assert full.height >= 2
    expected = sim.join(full.select("ts"), on="ts").select(full.columns)
    assert full.equals(expected)


def test_split_minute_reproduces_the_minute_bar() -> None:
    row = (1_731_510_000, 70.10, 70.25, 69.98, 70.05, 431, 70.11, 170)
    subs = split_minute(7, "CL", row, 0.01)
    assert [s[0] - row[0] for s in subs] == list(range(0, 60, 5))
    assert subs[0][1] == 70.10 and subs[-1][4] == 70.05
    assert max(s[2] for s in subs) == 70.25 and min(s[3] for s in subs) == 69.98
    assert sum(s[5] for s in subs) == 431 and sum(s[7] for s in subs) == 170
