"""The ThetaTerminal v3 client against the fake terminal over real HTTP on loopback.

Each test starts its own fake (a uvicorn thread on a free port) so fault scripts and counters
never leak between tests; fault tests fetch one expiration to stay fast.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal, Fault
from market_spine.fakes.thetaterminal.app import market_settings
from market_spine.fakes.thetaterminal.market import TerminalMarket
from market_spine.markets.expirations import (
    expirations,
    listed_expirations,
    quote_minutes_expected,
)
from market_spine.providers.simulated_options import SimulatedOptionMarket
from market_spine.providers.thetadata import (
    EOD_SCHEMA,
    ThetaDataBadPayload,
    ThetaDataBadRequest,
    ThetaDataClient,
    ThetaDataError,
    ThetaDataPermission,
    ThetaDataTooLarge,
    ThetaDataUnavailable,
    ThetaDataWrongHost,
)

DAY = date(2024, 3, 4)
HOLIDAY = date(2024, 3, 29)  # Good Friday: Cboe closed
EXPIRATION = date(2024, 3, 8)
KEYS = ["root", "expiration", "strike", "right"]


#: The simulated markets the module's fakes serve, one per market configuration.
_MARKETS: dict[tuple[Any, ...], TerminalMarket] = {}


@pytest.fixture(scope="module", autouse=True)
def _shared_markets() -> Iterator[None]:
    """Release the module's markets (and the chains they cache) when its tests are done."""
    yield
    _MARKETS.clear()


@contextmanager
def terminal(**config: Any) -> Iterator[FakeThetaTerminal]:
    """A fake terminal serving DAY as its "today" (unless the test names another).

    Each test gets its own fake (its faults, counters and clock), but fakes of one market
    configuration serve one shared market: it is deterministic and only caches what it
    simulates, and a chain takes seconds to simulate, which every test would otherwise pay."""
    settings = FakeThetaConfig(**{"today": DAY, **config})
    fake = FakeThetaTerminal(settings)
    fake.app.market = _MARKETS.setdefault(market_settings(settings), fake.app.market)
    with fake:
        yield fake


def client(url: str, **kwargs: Any) -> ThetaDataClient:
    """A client with a fast, small retry budget (tests must not sleep for real backoffs)."""
    options: dict[str, Any] = {
        "timeout": 10.0,
        "max_attempts": 5,
        "max_retry_seconds": 10.0,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
    }
    return ThetaDataClient(url, **{**options, **kwargs})


@pytest.fixture(scope="module")
def clean() -> pl.DataFrame:
    """The fault-free EOD rows of one expiration on DAY: what every faulty run must reproduce."""
    with terminal() as fake, client(fake.url) as c:
        chain = c.eod_chain("SPXW", DAY, EXPIRATION).chain
    assert chain.height > 50
    return chain


def test_eod_chain_csv_matches_simulated_market() -> None:
    _assert_matches_simulation("csv", "rows")


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_eod_chain_json_matches_simulated_market(layout: str) -> None:
    _assert_matches_simulation("json", layout)


def _assert_matches_simulation(fmt: str, layout: str) -> None:
    expected = SimulatedOptionMarket(seed=7).chain("SPXW", DAY).drop("underlying_price")
    with terminal(json_layout=layout) as fake, client(fake.url, fmt=fmt) as c:
        capture = c.eod_chain("SPXW", DAY)
        oi = c.open_interest("SPXW", DAY)
    assert capture.chain.schema == pl.Schema(EOD_SCHEMA)
    assert capture.request["format"] == fmt and capture.payload
    got = capture.chain.join(oi.select(*KEYS, "open_interest"), on=KEYS, how="left")
    assert_frame_equal(
        got.select(expected.columns).sort(KEYS), expected.sort(KEYS), check_exact=True
    )


def test_eod_timestamps_are_converted_from_eastern_to_utc(clean: pl.DataFrame) -> None:
    # The report is built from 17:15 EST (UTC-5 in early March), stamped to the millisecond.
    (created,) = clean["created"].unique().to_list()
    built = datetime(2024, 3, 4, 22, 15, tzinfo=UTC)
    assert built <= created < built + timedelta(minutes=5)
    assert created.microsecond != 0
    assert clean["trade_date"].unique().to_list() == [DAY]
    assert set(clean["right"]) == {"C", "P"}


def test_list_endpoints_have_history() -> None:
    """The lists take no date: every expiration ever (past ones with today's listings), and
    every strike an expiration had on any day it traded, a past expiration's included."""
    sim = SimulatedOptionMarket(seed=7)
    past = date(2024, 1, 5)
    on_last_day = sim.chain("SPXW", past).filter(pl.col("expiration") == past)["strike"]
    for fmt in ("csv", "json", "ndjson"):
        with terminal() as fake, client(fake.url, fmt=fmt) as c:
            listed = c.expirations("SPXW")
            strikes = c.strikes("SPXW", past)
            current = c.strikes("SPXW", EXPIRATION)
            stats = fake.stats()
        assert listed[0] == date(2012, 6, 1) and listed[-1] == listed_expirations("SPXW", DAY)[-1]
        assert {past, DAY, EXPIRATION} <= set(listed)
        assert set(expirations("SPXW", date(2016, 1, 1), DAY)) <= set(listed)
        assert set(on_last_day.to_list()) <= set(strikes) and len(strikes) > on_last_day.n_unique()
        today = sim.chain("SPXW", DAY).filter(pl.col("expiration") == EXPIRATION)["strike"]
        assert set(today.to_list()) <= set(current)
        assert stats["by_status"] == {"200": 3}


def test_holiday_is_an_empty_result_not_an_error() -> None:
    with terminal() as fake, client(fake.url) as c:
        capture = c.eod_chain("SPXW", HOLIDAY)
        oi = c.open_interest("SPXW", HOLIDAY)
        stats = fake.stats()
    assert capture.chain.is_empty() and capture.chain.schema == pl.Schema(EOD_SCHEMA)
    assert capture.notes["statuses"] == [472]
    assert oi.is_empty()
    assert stats["by_status"] == {"472": 2}


@pytest.mark.parametrize(
    ("fmt", "faults", "outcome"),
    [
        ("csv", [Fault("429", times=2)], "429"),
        ("csv", [Fault("474")], "474"),
        ("csv", [Fault("571")], "571"),
        ("csv", [Fault("500")], "500"),
        ("csv", [Fault("slow", seconds=1.5)], "slow"),
        ("csv", [Fault("drop")], "drop"),
        ("csv", [Fault("truncate")], "truncate"),
        ("csv", [Fault("malformed")], "malformed"),
        ("json", [Fault("malformed")], "malformed"),
        ("json", [Fault("drop"), Fault("truncate"), Fault("474")], "truncate"),
    ],
)
def test_transient_fault_is_retried_without_loss(
    clean: pl.DataFrame, fmt: str, faults: list[Fault], outcome: str
) -> None:
    # A 0.75 s timeout turns the 1.5 s "slow" fault into a client-side timeout; the fake's chain
    # is built beforehand so the clean retry cannot time out as well on a loaded machine.
    timeout = 0.75 if outcome == "slow" else 5.0
    with terminal(faults=faults) as fake, client(fake.url, fmt=fmt, timeout=timeout) as c:
        fake.app.market.chain("SPXW", DAY)
        chain = c.eod_chain("SPXW", DAY, EXPIRATION).chain
        stats = fake.stats()
    assert_frame_equal(chain, clean, check_exact=True)
    assert stats["by_status"][outcome] >= 1
    assert stats["by_status"].get("200", 0) == 1
    # Every fault costs exactly one request, then one clean answer: no extra or lost calls.
    assert stats["requests_total"] == sum(f.times or 0 for f in faults) + 1


def test_random_faults_with_a_seed_never_lose_or_duplicate_rows(clean: pl.DataFrame) -> None:
    faults = [Fault("500", probability=0.3, times=None), Fault("drop", probability=0.2, times=3)]
    with terminal(faults=faults, fault_seed=3) as fake, client(fake.url, max_attempts=10) as c:
        for _ in range(6):
            assert_frame_equal(c.eod_chain("SPXW", DAY, EXPIRATION).chain, clean)
        stats = fake.stats()
    assert stats["by_status"]["200"] == 6
    assert stats["requests_total"] > 6


def test_retry_budget_exhausted_raises_unavailable() -> None:
    with terminal(faults=[Fault("474", times=None)]) as fake, client(fake.url, max_attempts=3) as c:
        with pytest.raises(ThetaDataUnavailable, match="after 3 attempts") as info:
            c.eod_chain("SPXW", DAY, EXPIRATION)
        assert fake.stats()["requests_total"] == 3
    assert "474" in str(info.value)


def test_persistent_malformed_body_raises_bad_payload() -> None:
    with (
        terminal(faults=[Fault("malformed", times=None)]) as fake,
        client(fake.url, max_attempts=3) as c,
    ):
        with pytest.raises(ThetaDataBadPayload, match="unparseable body 3 times"):
            c.eod_chain("SPXW", DAY, EXPIRATION)
        assert fake.stats()["requests_total"] == 3


def test_terminal_not_running_raises_unavailable() -> None:
    with terminal() as fake:
        url = fake.url
    with client(url, max_attempts=2) as c, pytest.raises(ThetaDataUnavailable, match="running"):
        c.expirations("SPXW")


@pytest.mark.parametrize(
    ("code", "error", "message"),
    [
        ("471", ThetaDataPermission, "subscription tier too low"),
        ("473", ThetaDataBadRequest, "rejected a parameter"),
        ("476", ThetaDataWrongHost, "127.0.0.1 and localhost"),
    ],
)
def test_fatal_status_fails_at_once(code: str, error: type[ThetaDataError], message: str) -> None:
    with terminal(faults=[Fault(code)]) as fake, client(fake.url) as c:
        with pytest.raises(error, match=message):
            c.eod_chain("SPXW", DAY, EXPIRATION)
        assert fake.stats()["requests_total"] == 1


def test_mixing_localhost_and_127_0_0_1_fails_at_once() -> None:
    with terminal() as fake, client(fake.url) as c:
        c.expirations("SPXW")
        other = client(fake.url.replace("127.0.0.1", "localhost"))
        with other, pytest.raises(ThetaDataWrongHost, match="use one host name"):
            other.expirations("SPXW")
        assert fake.stats()["by_status"] == {"200": 1, "476": 1}


def test_one_day_too_large_cannot_be_split() -> None:
    with terminal(faults=[Fault("570", times=None)]) as fake, client(fake.url) as c:
        with pytest.raises(ThetaDataTooLarge, match="fewer expirations"):
            c.eod_chain("SPXW", DAY)
        assert fake.stats()["requests_total"] == 1


def test_invalid_parameter_names_the_parameter() -> None:
    with terminal() as fake, client(fake.url) as c:
        with pytest.raises(ThetaDataBadRequest, match="symbol"):
            c.eod_chain("SPY", DAY)
        assert fake.stats()["by_status"] == {"473": 1}


def test_request_too_large_is_split_and_merged() -> None:
    start, end = date(2024, 3, 4), date(2024, 3, 8)
    with terminal(max_days=2, today=end) as fake, client(fake.url) as c:
        capture = c.eod_history("SPXW", start, end, EXPIRATION)
        days = c.eod_chains("SPXW", [date(2024, 3, d) for d in range(4, 9)], EXPIRATION)
        stats = fake.stats()
    assert 570 not in capture.notes["statuses"]
    assert capture.notes["requests"] >= 3
    assert stats["by_status"]["570"] >= 1
    expected = pl.concat(days[d].chain for d in sorted(days))
    key = [*KEYS, "trade_date"]
    assert capture.chain.select(key).is_duplicated().sum() == 0
    assert_frame_equal(capture.chain.sort(key), expected.sort(key), check_exact=True)
    # On its expiration day the contract trades until its settlement: the report carries it.
    assert days[EXPIRATION].chain.height > 0
    assert capture.chain["trade_date"].unique().sort().to_list() == sorted(days)


def test_client_caps_its_concurrency_at_the_tier() -> None:
    with terminal(concurrency=4, delay=0.1) as fake, client(fake.url, tier="value") as c:
        with ThreadPoolExecutor(max_workers=12) as pool:
            chains = list(pool.map(lambda _: c.eod_chain("SPXW", DAY, EXPIRATION).chain, range(12)))
        stats = fake.stats()
    assert all(ch.height == chains[0].height for ch in chains)
    assert stats["max_concurrency"] == 2
    assert stats["by_status"] == {"200": 12}


def test_server_overflow_answers_429_to_a_client_ignoring_the_cap() -> None:
    with terminal(concurrency=1, queue=4, delay=0.1) as fake:
        params = {"symbol": "SPXW", "expiration": "20240308", "start_date": "20240304"}
        params["end_date"] = "20240304"

        def get(_: int) -> int:
            return httpx.get(
                f"{fake.url}/option/history/eod", params=params, timeout=30
            ).status_code

        with ThreadPoolExecutor(max_workers=30) as pool:
            statuses = list(pool.map(get, range(30)))
        stats = httpx.get(f"{fake.url}/_fake/stats").json()
    assert len(statuses) == 30
    assert statuses.count(429) > 0 and statuses.count(200) >= 5
    assert stats["requests_total"] == 30
    assert stats["by_status"] == {"200": statuses.count(200), "429": statuses.count(429)}
    assert stats["max_concurrency"] == 1


def test_every_response_is_logged_with_its_latency(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="market_spine.providers.thetadata.client")
    with terminal(faults=[Fault("571")]) as fake, client(fake.url) as c:
        c.expirations("SPXW")
    lines = [r.getMessage() for r in caplog.records if "thetadata GET" in r.getMessage()]
    assert len(lines) == 2
    assert "-> 571 in" in lines[0] and "-> 200 in" in lines[1]
    assert all(" ms" in line for line in lines)


def test_eod_chain_ndjson_matches_simulated_market() -> None:
    _assert_matches_simulation("ndjson", "rows")


def test_expiring_contracts_stay_in_eod_open_interest_and_strikes() -> None:
    """On its last day an SPXW trades until its 16:00 settlement: the EOD report, the open
    interest and the strike list all carry it (the most traded expiry of the day)."""
    with terminal(today=EXPIRATION) as fake, client(fake.url) as c:
        chain = c.eod_chain("SPXW", EXPIRATION).chain
        interest = c.open_interest("SPXW", EXPIRATION)
        strikes = c.strikes("SPXW", EXPIRATION)
    zero = chain.filter(pl.col("expiration") == EXPIRATION)
    assert zero.height > 100 and zero["trade_date"].unique().to_list() == [EXPIRATION]
    assert interest.filter(pl.col("expiration") == EXPIRATION).height == zero.height
    assert set(zero["strike"]) <= set(strikes)


def _last_quote_et(quotes: pl.DataFrame) -> str:
    return f"{quotes['ts'].max().astimezone(ZoneInfo('America/New_York')):%H:%M}"


@pytest.mark.parametrize(
    ("day", "expiration", "last"),
    [
        # A full day: the options trade to 16:15, past the terminal's 16:00 default end.
        (date(2024, 3, 4), date(2024, 3, 8), "16:14"),
        # The day after Thanksgiving closes at 13:15.
        (date(2024, 11, 29), date(2024, 12, 6), "13:14"),
        # An expiring contract stops at its 16:00 settlement.
        (date(2024, 3, 8), date(2024, 3, 8), "15:59"),
    ],
)
def test_quotes_cover_the_whole_session_from_the_option_calendar(
    day: date, expiration: date, last: str
) -> None:
    with terminal(today=day) as fake, client(fake.url) as c:
        capture = c.quotes("SPXW", expiration, day)
    assert capture.request["start_time"] == "09:30:00.000"
    assert capture.request["end_time"] == ("13:14:59.999" if last == "13:14" else "16:14:59.999")
    assert _last_quote_et(capture.quotes) == last
    per_contract = capture.quotes.group_by("strike", "right").len()["len"]
    assert (
        per_contract.min() == per_contract.max() == quote_minutes_expected("SPXW", expiration, day)
    )


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_empty_fields_and_nan_prices_are_nulls_and_nothing_is_lost(
    clean: pl.DataFrame, fmt: str
) -> None:
    """The feed's gaps (empty cells, nulls, NaN prices) parse as nulls in their own fields:
    every row arrives, keys intact, every other value as sent, at the first request."""
    faults = [Fault("nulls", times=None)]
    with terminal(faults=faults, fault_seed=5) as fake, client(fake.url, fmt=fmt) as c:
        gappy = c.eod_chain("SPXW", DAY, EXPIRATION).chain
        quotes = c.quotes("SPXW", EXPIRATION, DAY).quotes
        stats = fake.stats()
    assert stats["requests_total"] == 2 and stats["by_status"] == {"nulls": 2}
    assert gappy.height == clean.height
    joined = clean.join(gappy, on=[*KEYS, "trade_date"], suffix="_got", how="left")
    values = ["bid", "ask", "bid_size", "ask_size", "volume", "close", "trades"]
    emptied = 0
    for column in values:
        got = joined[f"{column}_got"]
        emptied += got.null_count()
        same = joined.filter(got.is_not_null())
        assert (same[column] == same[f"{column}_got"]).all(), column
    assert emptied > 0.03 * len(values) * clean.height
    assert gappy["created"].null_count() == 0
    minutes = quote_minutes_expected("SPXW", EXPIRATION, DAY)
    assert quotes.height == clean.height * minutes
    assert quotes["bid"].null_count() > 0 and quotes["ts"].null_count() == 0


def test_a_body_naming_no_contract_is_malformed_not_a_gap() -> None:
    """A gap where a row's identity belongs (its strike) cannot be kept as a null."""
    from market_spine.providers.thetadata.errors import _Malformed
    from market_spine.providers.thetadata.payloads import _eod_frame, _parse

    header = "symbol,expiration,strike,right,created,last_trade,open,high,low,close,volume,count"
    header += ",bid_size,bid_exchange,bid,bid_condition,ask_size,ask_exchange,ask,ask_condition"
    row = "SPXW,2024-03-08,,CALL,2024-03-04T17:16:00.1,,0,0,0,0,0,0,1,5,NaN,50,1,5,1.0,50"
    with pytest.raises(_Malformed, match="strike"):
        _eod_frame(_parse(f"{header}\r\n{row}\r\n".encode(), "csv"))
    gap = row.replace(",,CALL", ",5100.000,CALL")
    parsed = _eod_frame(_parse(f"{header}\r\n{gap}\r\n".encode(), "csv"))
    assert parsed["bid"].to_list() == [None] and parsed["last_trade"].to_list() == [None]


def test_multi_day_quotes_are_split_into_month_windows() -> None:
    """Multi-day quote requests need an expiration and span at most a month: two months and a
    week of one expiration go out as three requests, none refused."""
    expiration = date(2024, 3, 15)
    # The fake builds a month of a whole chain's quotes per request: slow on a busy machine,
    # and what is tested here is the split, not the answer's speed.
    with terminal() as fake, client(fake.url, timeout=120.0, max_retry_seconds=240.0) as c:
        quotes = c.quote_history("SPXW", expiration, date(2024, 1, 2), date(2024, 3, 8), "1h")
        one_day = c.quotes("SPXW", expiration, date(2024, 2, 1), "1h").quotes
        stats = fake.stats()
    assert stats["by_status"] == {"200": 4}
    days = quotes["ts"].dt.convert_time_zone("America/New_York").dt.date().unique()
    assert days.min() == date(2024, 1, 2) and days.max() == date(2024, 3, 8)
    assert days.len() == 47
    feb_1 = quotes.filter(
        pl.col("ts").dt.convert_time_zone("America/New_York").dt.date() == date(2024, 2, 1)
    )
    order = [*KEYS[2:], "ts"]
    assert_frame_equal(feb_1.sort(order), one_day.sort(order))


# -- request too large on quotes and the other endpoints ----------------------------------------


def test_quotes_too_large_are_split_by_time_and_every_row_kept() -> None:
    """A day of one expiration's quotes over the terminal's size limit (570) is fetched in
    shorter time windows: the capture holds exactly the rows one request would have."""
    with terminal() as fake, client(fake.url) as c:
        whole = c.quotes("SPXW", EXPIRATION, DAY)
    assert whole.quotes.height > 100_000
    with terminal(max_quote_rows=whole.quotes.height // 3) as fake, client(fake.url) as c:
        split = c.quotes("SPXW", EXPIRATION, DAY)
        stats = fake.stats()
    assert stats["by_status"]["570"] >= 1 and split.request["requests"] >= 3
    assert sum(split.request["payload_sizes"]) == len(split.payload)
    order = [*KEYS, "ts"]
    assert_frame_equal(split.quotes.sort(order), whole.quotes.sort(order), check_exact=True)
    assert split.quotes.select(order).is_duplicated().sum() == 0


def test_quote_history_too_large_is_split_by_days_then_time() -> None:
    start, end = date(2024, 3, 4), date(2024, 3, 5)
    with terminal() as fake, client(fake.url) as c:
        whole = c.quote_history("SPXW", EXPIRATION, start, end)
    with terminal(max_quote_rows=whole.height // 4) as fake, client(fake.url) as c:
        split = c.quote_history("SPXW", EXPIRATION, start, end)
        stats = fake.stats()
    assert stats["by_status"]["570"] >= 2
    order = [*KEYS, "ts"]
    assert_frame_equal(split.sort(order), whole.sort(order), check_exact=True)


def test_a_minute_too_large_is_a_clear_error() -> None:
    with terminal(max_quote_rows=10) as fake, client(fake.url) as c:
        with pytest.raises(ThetaDataTooLarge, match=r"one minute of SPXW quotes.*longer interval"):
            c.quotes("SPXW", EXPIRATION, DAY)
        assert fake.stats()["by_status"]["570"] > 5


def test_too_large_elsewhere_names_the_endpoint_the_request_and_the_fix() -> None:
    with terminal(faults=[Fault("570")]) as fake, client(fake.url) as c:
        with pytest.raises(ThetaDataTooLarge) as raised:
            c.open_interest("SPXW", DAY)
        assert fake.stats()["requests_total"] == 1
    message = str(raised.value)
    assert "/option/history/open_interest" in message and "date=20240304" in message
    assert "ask for less at once" in message


# -- the chain without the index close, and open interest the terminal does not publish ----------


def _chains(caplog: pytest.LogCaptureFixture, **config: Any) -> list[Any]:
    from market_spine.providers.thetadata.chains import ThetaDataChainProvider

    with terminal(**config) as fake, client(fake.url) as c:
        provider = ThetaDataChainProvider(c)
        with caplog.at_level(logging.WARNING, "market_spine.providers.thetadata.chains"):
            return [provider.fetch_chain(root, DAY) for root in ("SPX", "SPXW")]


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ({"index_subscription": False}, "does not include index data"),
        ({"index_history_start": date(2024, 6, 1)}, "no SPX index report"),
    ],
)
def test_without_the_index_close_the_underlying_comes_from_parity(
    caplog: pytest.LogCaptureFixture, config: dict[str, Any], why: str
) -> None:
    """Index data is a separate subscription (471), and a day may lack its index report (472):
    either way the chain is captured, its underlying the parity forward, the source recorded,
    and one warning says what to do."""
    captures = _chains(caplog, **config)
    spot = SimulatedOptionMarket(seed=7).spot(DAY)
    for capture in captures:
        assert capture.chain.height > 100
        (underlying,) = capture.chain["underlying_price"].unique().to_list()
        assert abs(underlying / spot - 1) < 1e-3
        assert capture.request["underlying_source"] == "put_call_parity"
        assert why in json.loads(capture.request["notes"])["underlying"]["reason"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "index subscription" in warnings[0].getMessage()


def test_with_the_index_close_the_underlying_is_the_close(caplog: pytest.LogCaptureFixture) -> None:
    captures = _chains(caplog)
    spot = SimulatedOptionMarket(seed=7).spot(DAY)
    assert all(c.request["underlying_source"] == "index_eod" for c in captures)
    assert captures[1].chain["underlying_price"].unique().to_list() == [spot]
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_open_interest_not_published_stays_null(caplog: pytest.LogCaptureFixture) -> None:
    """A contract the morning's open-interest file leaves out has no open interest: null, never
    an invented zero."""
    _, spxw = _chains(caplog, no_open_interest_every=7)
    expected = SimulatedOptionMarket(seed=7).chain("SPXW", DAY)
    published = expected.select(*KEYS, pl.col("open_interest").alias("published"))
    got = spxw.chain.join(published, on=KEYS)
    assert got.height == expected.height
    assert got["open_interest"].null_count() == -(-expected.height // 7)
    kept = got.filter(pl.col("open_interest").is_not_null())
    assert (kept["open_interest"] == kept["published"]).all()


def test_quote_history_keeps_each_day_on_its_own_grid() -> None:
    """One time window serves every day of a multi-day request: the terminal samples an early
    close's day at its 13:15 close and an expiring contract at its settlement, and the adapter
    keeps only the minutes each contract traded."""
    expiration = date(2024, 11, 29)  # the day after Thanksgiving: closes at 13:15
    with terminal(today=expiration) as fake, client(fake.url) as c:
        quotes = c.quote_history("SPXW", expiration, date(2024, 11, 26), expiration)
    local = quotes.with_columns(ts=pl.col("ts").dt.convert_time_zone("America/New_York"))
    last = local.group_by(pl.col("ts").dt.date().alias("day")).agg(
        pl.col("ts").max().dt.strftime("%H:%M")
    )
    assert dict(last.iter_rows()) == {
        date(2024, 11, 26): "16:14",
        date(2024, 11, 27): "16:14",
        date(2024, 11, 29): "12:59",
    }
    per_contract = local.group_by("strike", "right", pl.col("ts").dt.date().alias("d")).len()
    for day, count in per_contract.group_by("d").agg(pl.col("len").unique()).iter_rows():
        assert count == [quote_minutes_expected("SPXW", expiration, day)]


def test_a_url_that_is_not_v3_says_which_to_use() -> None:
    expected = "not a v3 terminal URL: use http://127"
    with (
        terminal() as fake,
        client(fake.url.removesuffix("/v3") + "/v2") as c,
        pytest.raises(ThetaDataBadRequest, match=expected),
    ):
        c.expirations("SPXW")
