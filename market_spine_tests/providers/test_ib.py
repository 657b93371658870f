"""IBProvider and IBRealtime against the fake TWS over loopback: sessions across a roll, the
client-side pacer (zero violations where a raw client gets 162), every scripted fault mapped to
the right error class without lost or duplicated bars, and real-time bars across a dropped
socket."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from ib_async import IB, Future, RequestError
from polars.testing import assert_frame_equal

from market_spine.errors import NotSubscribed, ProviderUnavailable, UnknownContract
from market_spine.fakes.tws import FakeTWS, FakeTWSConfig, Fault, PacingLimits
from market_spine.markets import instruments, rolls
from market_spine.providers.ib import IBProvider
from market_spine.providers.ib_connection import IBSettings
from market_spine.providers.ib_pacing import PacingRules
from market_spine.providers.ib_realtime import IBRealtime
from market_spine.providers.simulated import SimulatedMarket

pytestmark = pytest.mark.timeout(60)

SIM = SimulatedMarket()
#: Tight windows (seconds) used by both sides, so pacing binds within a fast test.
TIGHT = PacingLimits(
    identical_s=0.3, contract_window_s=0.25, contract_max=5, window_s=1.0, window_max=10, max_open=4
)
TIGHT_RULES = PacingRules(
    identical_s=0.3,
    contract_window_s=0.25,
    contract_max=5,
    window_s=1.0,
    window_max=10,
    max_open=4,
    # The fake runs in this process: under a loaded 2-core run, GIL contention can hold a
    # request 0.1–0.2 s between our stamp and the server's, so the margin covers that jitter.
    margin_s=0.3,
)
FAST = PacingRules(margin_s=0.02).scaled(0.01)
FAST_LIMITS = PacingLimits().scaled(0.01)  # the fake's side of FAST


def provider(port: int, pacing: PacingRules = FAST, **settings: float) -> IBProvider:
    """An IBProvider with client id 7 at `port`; `settings` override IBSettings fields."""
    tws = replace(IBSettings(port=port, client_id=7, request_timeout=5.0), **settings)
    return IBProvider(tws, pacing=pacing, retry_wait=0.05)


def test_sessions_across_the_cl_roll_equal_the_simulated_market() -> None:
    days = [date(2024, 11, d) for d in (11, 12, 13, 14, 15)]
    assert instruments.front_contract("CL", days[1]).local_symbol == "CLZ4"
    assert instruments.front_contract("CL", days[2]).local_symbol == "CLF5"
    items = [(s, d) for d in days for s in ("CL", "NG", "ES")]
    with FakeTWS.running() as tws, provider(tws.port) as ib:
        caps = ib.fetch_many(items)
        mlk = ib.fetch_bars("ES", date(2024, 1, 16))  # session spans the MLK holiday: 2 windows
        weekend = ib.fetch_bars("CL", date(2024, 11, 16))
        stats = tws.stats()
    for (symbol, day), cap in zip(items, caps, strict=True):
        assert cap.source == "ib"
        assert cap.request["contract"] == instruments.front_contract(symbol, day).local_symbol
        assert_frame_equal(cap.bars, SIM.bars(symbol, day))
    assert len(mlk.request["windows"]) == 2
    assert_frame_equal(mlk.bars, SIM.bars("ES", date(2024, 1, 16)))
    assert weekend.bars.is_empty() and weekend.notes == {"empty": "no session"}
    assert stats["pacing_violations"] == 0


def test_the_next_month_is_requested_by_its_own_contract_around_the_roll() -> None:
    day = date(2024, 11, 12)  # the last CLZ4 session: the raw asset also captures F5 and G5
    wanted = [c.local_symbol for c in rolls.captured_contracts("CL", day)]
    assert wanted == ["CLZ4", "CLF5", "CLG5"]
    with FakeTWS.running() as tws, provider(tws.port) as ib:
        caps = [ib.fetch_bars("CL", day, c) for c in wanted[1:]]
        with pytest.raises(UnknownContract, match="not a CL contract"):
            ib.fetch_bars("CL", day, "NGF5")
    for contract, cap in zip(wanted[1:], caps, strict=True):
        assert cap.request["contract"] == contract
        assert_frame_equal(cap.bars, SIM.bars("CL", day, contract))
    assert caps[0].bars["close"][-1] != SIM.bars("CL", day)["close"][-1]  # its own prices


def test_tight_backfill_has_zero_violations_while_a_raw_client_gets_162() -> None:
    days = [date(2024, 3, 4) + timedelta(days=i) for i in range(12)]
    items = [(s, d) for d in days for s in ("CL", "NG", "ES")]
    config = FakeTWSConfig(pacing=TIGHT)
    with FakeTWS.running(config) as tws:
        with provider(tws.port, pacing=TIGHT_RULES) as ib:
            t0 = time.perf_counter()
            caps = ib.fetch_many(items)
            elapsed = time.perf_counter() - t0
        paced = tws.stats()
        n_requests = sum(len(c.request["windows"]) for c in caps)

        async def raw(ib_raw: IB) -> list:
            c = Future("CL", "202404", "NYMEX")
            c.includeExpired = True
            [c] = await ib_raw.qualifyContractsAsync(c)
            c.includeExpired = True
            ends = [f"202403{d:02d}-22:00:00" for d in range(4, 16)]
            reqs = [
                ib_raw.reqHistoricalDataAsync(c, e, "1 D", "1 min", "TRADES", False, formatDate=2)
                for e in ends
            ]
            return await asyncio.gather(*reqs, return_exceptions=True)

        async def main() -> list:
            ib_raw = IB()
            ib_raw.RaiseRequestErrors = True
            await ib_raw.connectAsync("127.0.0.1", tws.port, clientId=99, timeout=5)
            try:
                return await raw(ib_raw)
            finally:
                ib_raw.disconnect()

        raw_results = asyncio.run(main())
        after_raw = tws.stats()
    for (symbol, day), cap in zip(items, caps, strict=True):
        assert_frame_equal(cap.bars, SIM.bars(symbol, day))
    assert paced["pacing_violations"] == 0, paced
    assert paced["max_open_historical"] <= TIGHT.max_open
    assert n_requests > 2 * TIGHT.window_max  # the 10-per-window rule had to bind
    assert elapsed >= (n_requests - 1) // TIGHT.window_max * TIGHT.window_s
    raw_pacing = [r for r in raw_results if isinstance(r, RequestError) and r.code == 162]
    assert any("pacing violation" in r.message for r in raw_pacing)
    assert after_raw["pacing_violations"] > 0


# The client's timeout is long enough that only a fault makes a request miss it, even when a
# loaded machine slows the fake's own replies: a reply that missed it would be retried on the
# same connection, and the fault it was meant to meet would never happen.
FAULT_TIMEOUT = 2.0
FAULT_CASES = [
    Fault("drop", fraction=0.4),
    Fault("slow", seconds=2 * FAULT_TIMEOUT),
    Fault("connectivity", seconds=0.2, restore=1102),
    Fault("connectivity", seconds=0.2, restore=1101),
    Fault("pacing"),
]


@pytest.mark.parametrize("fault", FAULT_CASES, ids=lambda f: f"{f.kind}-{f.restore}")
def test_recoverable_faults_lose_and_duplicate_nothing(fault: Fault) -> None:
    day = date(2024, 11, 13)
    config = FakeTWSConfig(faults=[fault], pacing=FAST_LIMITS)
    with FakeTWS.running(config) as tws, provider(tws.port, request_timeout=FAULT_TIMEOUT) as ib:
        cap = ib.fetch_bars("CL", day)
        stats = tws.stats()
    assert stats["faults"] == {fault.kind: 1}
    assert_frame_equal(cap.bars, SIM.bars("CL", day))
    assert cap.bars["ts"].is_unique().all()
    if fault.kind == "connectivity" and fault.restore == 1102:
        assert ib.retries == 0  # data maintained: the pending request was answered
    else:
        assert ib.retries == 1
    if fault.kind == "drop":
        assert stats["connections"] == 2  # reconnected


def test_no_data_is_an_empty_capture_not_an_error() -> None:
    config = FakeTWSConfig(faults=[Fault("no_data", match="CLF5")])
    with FakeTWS.running(config) as tws, provider(tws.port) as ib:
        cap = ib.fetch_bars("CL", date(2024, 11, 13))
        other = ib.fetch_bars("CL", date(2024, 11, 12))  # CLZ4: unaffected
    assert cap.bars.is_empty() and cap.notes["requests"] == 1
    assert_frame_equal(other.bars, SIM.bars("CL", date(2024, 11, 12)))


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        (Fault("unknown_contract", request="contract_details"), UnknownContract, "definition"),
        (Fault("unknown_contract"), UnknownContract, "error 200"),
        (Fault("not_subscribed"), NotSubscribed, "Market Data Subscriptions"),
    ],
    ids=["details-200", "history-200", "history-354"],
)
def test_fatal_faults_raise_the_platform_error(fault: Fault, error: type, text: str) -> None:
    with FakeTWS.running(FakeTWSConfig(faults=[fault])) as tws, provider(tws.port) as ib:
        with pytest.raises(error, match=text):
            ib.fetch_bars("ES", date(2024, 11, 13))
        assert ib.retries == 0


def test_unreachable_tws_is_provider_unavailable() -> None:
    with FakeTWS.running() as tws:
        port = tws.port
    with (
        provider(port, unavailable_after=1.0, connect_timeout=0.5) as ib,
        pytest.raises(ProviderUnavailable, match="enable API socket clients"),
    ):
        ib.fetch_bars("CL", date(2024, 11, 13))


def test_realtime_bars_survive_a_dropped_socket() -> None:
    start = datetime(2024, 11, 13, 15, 0, 1, tzinfo=UTC)
    config = FakeTWSConfig(start=start, speed=100.0)  # a 5-second bar every 50 ms
    bars: list[dict] = []
    events: list[str] = []
    resubscribed = threading.Event()

    def on_event(event: str, detail: str) -> None:
        events.append(event)
        if event == "resubscribed":
            resubscribed.set()

    with FakeTWS.running(config) as tws:
        with IBRealtime(
            bars.append,
            IBSettings(port=tws.port, client_id=11),
            on_event=on_event,
            clock=tws.server.clock.now,
        ) as rt:
            assert rt.subscribe(["CL"]) == {"CL": "CLF5"}
            time.sleep(0.6)
            before = len(bars)
            assert tws.drop_connections() == 1
            assert resubscribed.wait(10)
            time.sleep(0.6)
        stats = tws.stats()
    assert before >= 6 and len(bars) > before + 5
    assert events[:3] == ["disconnected", "reconnected", "resubscribed"]
    ts = [b["ts"] for b in bars]
    assert ts == sorted(set(ts))  # no duplicates, in order (a gap while disconnected is expected)
    assert all((b - a).total_seconds() % 5 == 0 for a, b in itertools.pairwise(ts))
    assert {b["symbol"] for b in bars} == {"CL"} and {b["contract"] for b in bars} == {"CLF5"}
    assert stats["connections"] == 2
    minute = SIM.bars("CL", date(2024, 11, 13)).filter(
        SIM.bars("CL", date(2024, 11, 13))["ts"] == ts[0].replace(second=0)
    )
    if minute.height:  # a 5-second bar lies inside its minute's range
        assert minute["low"][0] <= bars[0]["low"] <= bars[0]["high"] <= minute["high"][0]
