"""The ASGI app: stats, the tier's concurrency gate and fault injection around the routes."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import polars as pl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from market_spine.fakes.thetaterminal.config import (
    STATUS_TEXT,
    FakeThetaConfig,
    Fault,
    latest_trading_day,
)
from market_spine.fakes.thetaterminal.market import (
    TerminalMarket,
    bars,
    expirations_within,
    index_bars,
    index_sample,
    now_utc,
    sample,
    select_contracts,
)
from market_spine.fakes.thetaterminal.params import (
    DEFAULT_END_TIME,
    DEFAULT_START_TIME,
    INDEX_SYMBOLS,
    INTERVAL_SECONDS,
    BadParam,
    ContractFilter,
    TooLarge,
    param_date,
    param_days,
    param_expiration,
    param_filter,
    param_format,
    param_interval,
    param_request_type,
    param_span,
    param_symbol,
    param_symbols,
    param_time,
    within_a_month,
)
from market_spine.fakes.thetaterminal.render import render, with_gaps
from market_spine.markets.expirations import is_trading_day

#: Rows of one contract stream together, in this order.
CONTRACT_ORDER = ("expiration", "strike", "right")
RATE_TYPES = (
    "sofr",
    "treasury_m1",
    "treasury_m3",
    "treasury_m6",
    "treasury_y1",
    "treasury_y2",
    "treasury_y3",
    "treasury_y5",
    "treasury_y7",
    "treasury_y10",
    "treasury_y20",
    "treasury_y30",
)


def market_settings(config: FakeThetaConfig) -> tuple[Any, ...]:
    """What the simulated market depends on in `config`, in TerminalMarket's argument order:
    fakes equal in it serve the same (deterministic) market."""
    return (config.seed, config.no_offer_every, config.history_start, config.no_open_interest_every)


class FakeThetaApp:
    """The ASGI app: stats, concurrency gate and fault injection around a Starlette router."""

    def __init__(self, config: FakeThetaConfig) -> None:
        self.config = config
        self.today = config.today or latest_trading_day()
        self.market = TerminalMarket(*market_settings(config))
        self._lock = threading.Lock()
        self._rng = random.Random(config.fault_seed)
        self._script = [f for f in config.faults if f.probability is None]
        self._random = [f for f in config.faults if f.probability is not None]
        self._used: Counter[int] = Counter()
        self.requests_total = 0
        #: Body bytes of the answers served without a fault.
        self.bytes_total = 0
        self.by_status: Counter[str] = Counter()
        self.active = 0
        self.waiting = 0
        self.max_concurrency = 0
        self._gate: asyncio.Semaphore | None = None
        self._host: str | None = None
        self._gap_rng = random.Random(config.fault_seed)
        self.router = Starlette(
            routes=[
                Route("/v3/option/list/expirations", self._expirations),
                Route("/v3/option/list/strikes", self._strikes),
                Route("/v3/option/list/dates/{request_type}", self._dates),
                Route("/v3/option/list/contracts/{request_type}", self._contracts),
                Route("/v3/option/history/eod", self._eod),
                Route("/v3/option/history/greeks/eod", self._greeks_eod),
                Route("/v3/option/history/open_interest", self._open_interest),
                Route("/v3/option/history/quote", self._quote),
                Route("/v3/option/history/ohlc", self._ohlc),
                Route("/v3/index/history/eod", self._index_eod),
                Route("/v3/index/history/price", self._index_price),
                Route("/v3/index/history/ohlc", self._index_ohlc),
                Route("/v3/_fake/stats", self._stats),
                Route("/{path:path}", self._not_found),
            ]
        )

    # -- bookkeeping -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters since start: requests, responses by status (or fault), peak concurrency."""
        with self._lock:
            return {
                "requests_total": self.requests_total,
                "bytes_total": self.bytes_total,
                "by_status": dict(self.by_status),
                "max_concurrency": self.max_concurrency,
                "active": self.active,
                "waiting": self.waiting,
            }

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.by_status[outcome] += 1

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._script:
                fault = self._script[0]
                self._used[id(fault)] += 1
                if fault.times is not None and self._used[id(fault)] >= fault.times:
                    self._script.pop(0)  # consumed: the next scripted fault takes over
                return fault
            for fault in self._random:
                spent = fault.times is not None and self._used[id(fault)] >= fault.times
                if not spent and self._rng.random() < (fault.probability or 0.0):
                    self._used[id(fault)] += 1
                    return fault
        return None

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/v3/_fake"):
            await self.router(scope, receive, send)
            return
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.config.concurrency)
        with self._lock:
            self.requests_total += 1
            overflow = self._gate.locked() and self.waiting >= self.config.queue
            if not overflow:
                self.waiting += 1
        if overflow:
            self._count("429")
            await PlainTextResponse(STATUS_TEXT["429"], status_code=429)(scope, receive, send)
            return
        async with self._gate:
            with self._lock:
                self.waiting -= 1
                self.active += 1
                self.max_concurrency = max(self.max_concurrency, self.active)
            try:
                await self._serve(scope, receive, send)
            finally:
                with self._lock:
                    self.active -= 1

    async def _serve(self, scope: dict, receive: Any, send: Any) -> None:
        if self.config.delay:
            await asyncio.sleep(self.config.delay)
        if self._mixed_host(scope):
            self._count("476")
            response = PlainTextResponse(STATUS_TEXT["476"], status_code=476)
            await response(scope, receive, send)
            return
        if not self.config.index_subscription and scope["path"].startswith("/v3/index/"):
            self._count("471")
            text = "Permission denied: your subscription does not include index data."
            await PlainTextResponse(text, status_code=471)(scope, receive, send)
            return
        fault = self._next_fault()
        if fault is None:
            await self._route(scope, receive, send)
            return
        kind = fault.kind
        if kind in STATUS_TEXT:
            self._count(kind)
            response = PlainTextResponse(STATUS_TEXT[kind], status_code=int(kind))
            await response(scope, receive, send)
        elif kind == "slow":
            self._count("slow")
            await asyncio.sleep(fault.seconds)
            await self._route(scope, receive, send, count=False)
        elif kind == "drop":
            self._count("drop")
            _close_connection(send)
        elif kind == "truncate":
            self._count("truncate")
            status, body, headers = await self._render(scope, receive)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [*headers, (b"content-length", str(len(body) + 1000).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body, "more_body": True})
            _close_connection(send)
        elif kind == "nulls":
            self._count("nulls")
            scope.setdefault("state", {})["gaps"] = True
            await self._route(scope, receive, send, count=False)
        elif kind == "malformed":
            self._count("malformed")
            status, body, headers = await self._render(scope, receive)
            await Response(_corrupt(body), status_code=status, headers=dict(headers))(
                scope, receive, send
            )

    def _mixed_host(self, scope: dict) -> bool:
        """True when this request names a different host than the first one did."""
        if not self.config.enforce_host:
            return False
        raw = dict(scope["headers"]).get(b"host", b"").decode()
        host = raw.rsplit(":", 1)[0]
        with self._lock:
            self._host = self._host or host
            return host != self._host

    async def _route(self, scope: dict, receive: Any, send: Any, count: bool = True) -> None:
        status, body, headers = await self._render(scope, receive)
        if count:
            self._count(str(status))
        with self._lock:
            self.bytes_total += len(body)
        await Response(body, status_code=status, headers=dict(headers))(scope, receive, send)

    async def _render(self, scope: dict, receive: Any) -> tuple[int, bytes, list[tuple]]:
        """Run the router into a buffer, so faults can mangle the bytes of a real answer."""
        messages: list[dict] = []

        async def capture(message: dict) -> None:
            messages.append(message)

        await self.router(scope, receive, capture)
        start = messages[0]
        body = b"".join(m.get("body", b"") for m in messages[1:])
        headers = [
            (k.decode(), v.decode()) for k, v in start["headers"] if k.lower() != b"content-length"
        ]
        return start["status"], body, headers

    # -- endpoints ---------------------------------------------------------------------------

    async def _stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def _not_found(self, request: Request) -> Response:
        return PlainTextResponse(f"No endpoint at {request.url.path}", status_code=404)

    async def _expirations(self, request: Request) -> Response:
        def rows() -> pl.DataFrame:
            return pl.DataFrame(
                [
                    {"symbol": symbol, "expiration": e.isoformat()}
                    for symbol in param_symbols(request)
                    for e in self.market.expirations_ever(symbol, self.today)
                ],
                schema={"symbol": pl.String, "expiration": pl.String},
            )

        return await self._answer(request, rows, grouped=False)

    async def _strikes(self, request: Request) -> Response:
        def rows() -> pl.DataFrame:
            symbols = param_symbols(request)
            expiration = param_expiration(request, wildcard=False)
            assert expiration is not None
            return pl.DataFrame(
                [
                    {"symbol": symbol, "strike": strike}
                    for symbol in symbols
                    if self.market.is_expiration(symbol, expiration, self.today)
                    for strike in self.market.strikes_ever(symbol, expiration, self.today)
                ],
                schema={"symbol": pl.String, "strike": pl.Float64},
            )

        return await self._answer(request, rows, grouped=False)

    async def _dates(self, request: Request) -> Response:
        def rows() -> pl.DataFrame:
            param_request_type(request)
            symbol = param_symbol(request)
            expiration = param_expiration(request, wildcard=False)
            param_filter(request)
            assert expiration is not None
            if not self.market.is_expiration(symbol, expiration, self.today):
                return pl.DataFrame()
            days = self.market.trading_days(symbol, expiration, self.today)
            return pl.DataFrame({"date": [d.isoformat() for d in days]}, schema={"date": pl.String})

        return await self._answer(request, rows, grouped=False)

    async def _contracts(self, request: Request) -> Response:
        def frame() -> pl.DataFrame:
            kind = param_request_type(request)
            symbols = param_symbols(request, required=False)
            day = param_date(request, "date")
            selector = ContractFilter(max_dte=param_filter(request).max_dte)
            parts = [
                select_contracts(
                    self.market.contracts(s, day, kind), day, self.market.spot(day), selector
                )
                for s in symbols
                if is_trading_day(day)
            ]
            return pl.concat(parts) if parts else pl.DataFrame()

        return await self._answer(request, frame, grouped=False)

    async def _eod(self, request: Request) -> Response:
        def frame() -> pl.DataFrame:
            symbol = param_symbol(request)
            expiration = param_expiration(request, wildcard=True)
            selector = param_filter(request)
            days = param_span(request)
            if self.config.max_days is not None and len(days) > self.config.max_days:
                raise TooLarge
            days = self._published(days, "option", symbol)
            out = self._per_day(days, lambda d: self.market.eod(symbol, d), expiration, selector)
            return _by_contract(out, "created")

        return await self._answer(request, frame, grouped=True)

    async def _greeks_eod(self, request: Request) -> Response:
        def frame() -> pl.DataFrame:
            symbol = param_symbol(request)
            expiration = param_expiration(request, wildcard=True)
            selector = param_filter(request)
            days = param_span(request)
            if expiration is None and len(days) > 1:
                raise BadParam(
                    "Invalid parameters: greeks/eod with expiration=* must be requested one day "
                    "at a time (start_date = end_date)"
                )
            days = self._published(days, "option", symbol)
            version = request.query_params.get("version") or "latest"
            if version not in ("latest", "1"):
                raise BadParam(f"Invalid parameter version={version!r}: one of latest, 1")
            rate_type = request.query_params.get("rate_type") or "sofr"
            if rate_type not in RATE_TYPES:
                raise BadParam(f"Invalid parameter rate_type={rate_type!r}")
            out = self._per_day(
                days, lambda d: self.market.greeks_eod(symbol, d, version), expiration, selector
            )
            return _by_contract(out, "timestamp")

        return await self._answer(request, frame, grouped=True)

    async def _open_interest(self, request: Request) -> Response:
        def frame() -> pl.DataFrame:
            symbol = param_symbol(request)
            expiration = param_expiration(request, wildcard=True)
            selector = param_filter(request)
            days = self._published(param_days(request), "open_interest", symbol)
            out = self._per_day(
                days, lambda d: self.market.open_interest(symbol, d), expiration, selector
            )
            return _by_contract(out, "timestamp")

        return await self._answer(request, frame, grouped=True)

    def _published(self, days: list[date], kind: str, symbol: str) -> list[date]:
        """The days whose report of `kind` exists by the fake's clock: none after `today`, and
        today's only once it is built (the others answer no data)."""
        now = self.now()
        return [
            d for d in days if d <= self.today and self.market.published(kind, symbol, d) <= now
        ]

    def _per_day(
        self,
        days: list[date],
        build: Callable[[date], pl.DataFrame],
        expiration: date | None,
        selector: ContractFilter,
    ) -> pl.DataFrame:
        """One frame of each trading day's rows, kept by the expiration and the selectors."""
        frames = []
        for day in days:
            if not is_trading_day(day):
                continue
            rows = build(day)
            if expiration is not None:
                rows = rows.filter(pl.col("expiration") == expiration.isoformat())
            frames.append(select_contracts(rows, day, self.market.spot(day), selector))
        return pl.concat(frames) if frames else pl.DataFrame()

    async def _quote(self, request: Request) -> Response:
        return await self._intraday(request, "quote", self.market.quote_snapshots, sample)

    async def _ohlc(self, request: Request) -> Response:
        return await self._intraday(request, "ohlc", self.market.ohlc_minutes, bars)

    async def _intraday(
        self,
        request: Request,
        endpoint: str,
        minutes: Callable[[str, date, date, datetime | None], pl.DataFrame],
        render: Callable[..., pl.DataFrame],
    ) -> Response:
        def frame() -> pl.DataFrame:
            symbol = param_symbol(request)
            expiration = param_expiration(request, wildcard=endpoint == "quote")
            selector = param_filter(request)
            interval = param_interval(request)
            start_time = param_time(request, "start_time", DEFAULT_START_TIME)
            end_time = param_time(request, "end_time", DEFAULT_END_TIME)
            days = param_days(request)
            if len(days) > 1:
                if expiration is None:
                    raise BadParam(
                        f"Invalid parameters: multi-day {endpoint} requests must specify an "
                        "expiration (expiration=* is for one date)"
                    )
                step = INTERVAL_SECONDS[interval]
                if step is None or step < 60:
                    raise BadParam(
                        f"Invalid parameter interval={interval}: intervals under 1m are for "
                        "single-day requests only"
                    )
                within_a_month(days, endpoint)
            frames = []
            rows = 0
            for day in days:
                spot = self.market.spot(day) if is_trading_day(day) else 0.0
                wanted = (
                    expirations_within(symbol, day, selector.max_dte)
                    if expiration is None
                    else [expiration]
                )
                for exp in wanted:
                    chosen = select_contracts(
                        minutes(symbol, exp, day, self.now()), day, spot, selector
                    )
                    part = render(
                        chosen, interval, start_time, end_time, self.config.max_quote_rows - rows
                    )
                    rows += part.height
                    frames.append(part)
            return pl.concat(frames) if frames else pl.DataFrame()

        return await self._answer(request, frame, grouped=True)

    def now(self) -> datetime:
        """The fake's clock (`config.clock`, else the wall clock): live sessions are quoted up
        to the last closed minute, reports served once built."""
        return self.config.clock or now_utc()

    async def _index_eod(self, request: Request) -> Response:
        def rows() -> pl.DataFrame:
            symbol = param_symbol(request, INDEX_SYMBOLS)
            days = self._published(param_span(request), "index", symbol)
            start = self.config.index_history_start
            days = [d for d in days if start is None or d >= start]
            return pl.DataFrame([self.market.index_eod(d) for d in days if is_trading_day(d)])

        return await self._answer(request, rows, grouped=False)

    async def _index_price(self, request: Request) -> Response:
        return await self._index_intraday(request, "price", index_sample)

    async def _index_ohlc(self, request: Request) -> Response:
        return await self._index_intraday(request, "ohlc", index_bars)

    async def _index_intraday(
        self, request: Request, endpoint: str, render: Callable[..., pl.DataFrame]
    ) -> Response:
        def rows() -> pl.DataFrame:
            param_symbol(request, INDEX_SYMBOLS)
            interval = param_interval(request)
            start_time = param_time(request, "start_time", DEFAULT_START_TIME)
            end_time = param_time(request, "end_time", DEFAULT_END_TIME)
            days = param_span(request) if endpoint == "ohlc" else param_days(request)
            if len(days) > 1:
                step = INTERVAL_SECONDS[interval]
                if step is None or step < 60:
                    raise BadParam(
                        f"Invalid parameter interval={interval}: intervals under 1m are for "
                        "single-day requests only"
                    )
                within_a_month(days, f"index {endpoint}")
            frames = [
                render(
                    self.market.index_minutes(d),
                    interval,
                    start_time,
                    end_time,
                    self.config.max_quote_rows,
                )
                for d in days
                if is_trading_day(d)
            ]
            return pl.concat(frames) if frames else pl.DataFrame()

        return await self._answer(request, rows, grouped=False)

    async def _answer(
        self, request: Request, build: Callable[[], pl.DataFrame], grouped: bool
    ) -> Response:
        """Build the data off the event loop and render it in the requested format."""
        try:
            fmt = param_format(request)
            frame = await asyncio.to_thread(build)
        except BadParam as exc:
            return PlainTextResponse(str(exc), status_code=473)
        except TooLarge:
            return PlainTextResponse(STATUS_TEXT["570"], status_code=570)
        if frame.is_empty():
            return PlainTextResponse("No data for the request.", status_code=472)
        if request.scope.get("state", {}).get("gaps"):
            frame = with_gaps(frame, self._gap_rng)
        body, media = await asyncio.to_thread(render, frame, fmt, grouped, self.config.json_layout)
        return Response(body, media_type=media)


def _by_contract(frame: pl.DataFrame, stamp: str) -> pl.DataFrame:
    """Rows of one contract together, then in time order, as the terminal streams them."""
    if frame.is_empty():
        return frame
    return frame.sort(*CONTRACT_ORDER, stamp, maintain_order=True)


def _close_connection(send: Any) -> None:
    """Close the TCP connection under uvicorn (its `send` is bound to the request cycle, which
    holds the transport): the client sees a dropped connection, not an HTTP error."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("fault injection needs uvicorn's send callable")
    transport.close()
    # Tell uvicorn the peer is gone so it does not try to answer 500 on a closed socket.
    cycle.disconnected = True


def _corrupt(body: bytes) -> bytes:
    """A body that looks like data but cannot be parsed: invalid JSON, or a CSV with a row cut
    in the middle and junk in a numeric field."""
    if body.lstrip().startswith(b"{"):
        return body[: len(body) // 2]
    lines = body.split(b"\r\n")
    if len(lines) > 2:
        lines[1] = lines[1][: len(lines[1]) // 2] + b',"oops'
    return b"\r\n".join(lines)


def create_app(config: FakeThetaConfig | None = None) -> FakeThetaApp:
    """The fake terminal as an ASGI app (serve it with uvicorn, or use `FakeThetaTerminal`)."""
    return FakeThetaApp(config or FakeThetaConfig())
