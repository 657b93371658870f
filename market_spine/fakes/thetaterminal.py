"""A fake ThetaTerminal v3 REST server that serves the simulated option market over real HTTP.

It speaks the wire format of `shared/reference/providers.md` (CSV by default, JSON in the
row-grouped or the column-oriented layout, the 47x/57x status codes), enforces the tier
concurrency with a bounded queue (overflow → 429) and injects scripted or random faults, so the
real `ThetaDataClient` is tested end to end on loopback.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import polars as pl
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from market_spine.option_calendar import is_trading_day, listed_expirations
from market_spine.providers.simulated_option_quotes import simulate_quotes
from market_spine.providers.simulated_options import SimulatedOptionMarket

FaultKind = Literal[
    "429",
    "471",
    "473",
    "474",
    "476",
    "500",
    "570",
    "571",
    "slow",
    "drop",
    "truncate",
    "malformed",
]
#: Status faults answer with that code and a plain-text body, as the terminal does.
_STATUS_TEXT = {
    "429": "Too many requests: the request queue is full.",
    "471": "Permission denied: your subscription does not include this data.",
    "473": "Invalid parameters.",
    "474": "Disconnected from the ThetaData servers; reconnecting.",
    "476": "Wrong IP address: requests from 127.0.0.1 and localhost were mixed.",
    "500": "Internal server error.",
    "570": "Request too large: split it.",
    "571": "The terminal is starting; try again shortly.",
}
_EOD_COLUMNS = [
    "symbol",
    "expiration",
    "strike",
    "right",
    "created",
    "last_trade",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "count",
    "bid_size",
    "bid_exchange",
    "bid",
    "bid_condition",
    "ask_size",
    "ask_exchange",
    "ask",
    "ask_condition",
]
_CONTRACT_COLUMNS = ("symbol", "strike", "right", "expiration")
#: Quote intervals the fake serves, in minutes (the terminal also has tick and sub-minute ones).
_INTERVAL_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60}


@dataclass
class Fault:
    """One injected fault. Scripted (`probability=None`) faults are consumed in list order, each
    for `times` requests; probabilistic ones hit each request with `probability` (seeded), at most
    `times` times (`None` = unlimited)."""

    kind: FaultKind
    times: int | None = 1
    seconds: float = 0.5
    probability: float | None = None


@dataclass
class FakeThetaConfig:
    """What the fake serves and how it misbehaves."""

    seed: int = 7
    today: date | None = None
    concurrency: int = 4
    queue: int = 16
    json_layout: Literal["rows", "columns"] = "rows"
    faults: list[Fault] = field(default_factory=list)
    fault_seed: int = 0
    #: Extra processing time per data request, so concurrency and queueing are observable.
    delay: float = 0.0
    #: EOD ranges wider than this many days answer 570 (request too large).
    max_days: int = 31
    #: Answer 476 when requests arrive under two host names (127.0.0.1 and localhost).
    enforce_host: bool = True
    #: Quote requests that would return more rows than this answer 570 (request too large).
    max_quote_rows: int = 2_000_000


def latest_trading_day(before: date | None = None) -> date:
    """The latest Cboe trading day on or before `before` (default today)."""
    day = before or date.today()
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


class _BadParam(Exception):
    """A request parameter is missing or invalid (answered with 473)."""


class _NoData(Exception):
    """Nothing matches the request (answered with 472)."""


def _param_date(request: Request, name: str) -> date:
    raw = request.query_params.get(name)
    if not raw:
        raise _BadParam(f"Missing required parameter {name}")
    # strptime alone accepts "2024033" (single-digit day): insist on the exact widths.
    fmt = {8: "%Y%m%d", 10: "%Y-%m-%d"}.get(len(raw))
    if fmt is not None:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            pass
    raise _BadParam(f"Invalid parameter {name}={raw!r}: expected YYYYMMDD or YYYY-MM-DD")


def _param_symbol(request: Request) -> str:
    symbol = (request.query_params.get("symbol") or "").upper()
    if not symbol:
        raise _BadParam("Missing required parameter symbol")
    if symbol not in ("SPX", "SPXW"):
        raise _BadParam(f"Invalid parameter symbol={symbol!r}: this terminal serves SPX and SPXW")
    return symbol


def _param_days(request: Request) -> list[date]:
    """`date`, or the `start_date`..`end_date` range, as a list of calendar days."""
    if request.query_params.get("date"):
        return [_param_date(request, "date")]
    start, end = _param_date(request, "start_date"), _param_date(request, "end_date")
    if end < start:
        raise _BadParam(f"Invalid parameter end_date={end:%Y%m%d}: before start_date")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _param_time(request: Request, name: str, default: str) -> str:
    """An `HH:MM:SS[.fff]` Eastern wall-clock parameter, as `HH:MM:SS`."""
    raw = request.query_params.get(name) or default
    try:
        return datetime.strptime(raw[:8], "%H:%M:%S").strftime("%H:%M:%S")
    except ValueError:
        raise _BadParam(f"Invalid parameter {name}={raw!r}: expected HH:MM:SS") from None


def _param_expiration(request: Request, wildcard: bool) -> date | None:
    raw = request.query_params.get("expiration")
    if wildcard and raw == "*":
        return None
    if not raw:
        raise _BadParam("Missing required parameter expiration")
    return _param_date(request, "expiration")


class _Market:
    """The simulated market rendered as ThetaTerminal frames (cached: a chain is 30k rows)."""

    def __init__(self, seed: int) -> None:
        self.sim = SimulatedOptionMarket(seed=seed)
        self.chain = lru_cache(maxsize=64)(self.sim.chain)

    def eod(self, symbol: str, day: date) -> pl.DataFrame:
        """One day's EOD report in the terminal's columns, with OHLC derived from the quotes."""
        chain = self.chain(symbol, day)
        stamp = day.isoformat()
        mid = ((pl.col("bid") + pl.col("ask")) / 2).round(2)
        traded = pl.col("volume") > 0
        # A deterministic "open" a few ticks away from the close, so OHLC is not degenerate.
        drift = ((pl.col("strike") * 7 + pl.col("volume")) % 5 - 2) * 0.05
        open_ = (pl.col("close") + drift).clip(lower_bound=0.05).round(2)
        return (
            chain.with_columns(close=mid)
            .with_columns(open=open_)
            .select(
                symbol=pl.col("root"),
                expiration=pl.col("expiration").cast(pl.String),
                strike=pl.col("strike"),
                right=pl.when(pl.col("right") == "C").then(pl.lit("CALL")).otherwise(pl.lit("PUT")),
                created=pl.lit(f"{stamp}T17:15:00.000"),
                last_trade=pl.when(traded)
                .then(pl.lit(f"{stamp}T16:14:59.000"))
                .otherwise(pl.lit(f"{stamp}T00:00:00.000")),
                open=pl.when(traded).then(pl.col("open")).otherwise(0.0),
                high=pl.when(traded).then(pl.max_horizontal("open", "close", "ask")).otherwise(0.0),
                low=pl.when(traded).then(pl.min_horizontal("open", "close", "bid")).otherwise(0.0),
                close=pl.when(traded).then(pl.col("close")).otherwise(0.0),
                volume=pl.col("volume"),
                count=(pl.col("volume") + 2) // 3,
                bid_size=pl.col("bid_size"),
                bid_exchange=pl.lit(5),
                bid=pl.col("bid"),
                bid_condition=pl.lit(50),
                ask_size=pl.col("ask_size"),
                ask_exchange=pl.lit(5),
                ask=pl.col("ask"),
                ask_condition=pl.lit(50),
            )
        )

    def quotes(
        self, symbol: str, expiration: date, day: date, now: datetime | None
    ) -> pl.DataFrame:
        """One expiration's 1-minute quotes on `day` in the terminal's columns (ET timestamps)."""
        quotes = simulate_quotes(self.sim, symbol, expiration, day, now)
        return quotes.select(
            symbol=pl.col("root"),
            expiration=pl.col("expiration").cast(pl.String),
            strike=pl.col("strike"),
            right=pl.when(pl.col("right") == "C").then(pl.lit("CALL")).otherwise(pl.lit("PUT")),
            timestamp=pl.col("ts")
            .dt.convert_time_zone("America/New_York")
            .dt.strftime("%Y-%m-%dT%H:%M:%S.000"),
            bid_size=pl.col("bid_size"),
            bid_exchange=pl.lit(5),
            bid=pl.col("bid"),
            bid_condition=pl.lit(50),
            ask_size=pl.col("ask_size"),
            ask_exchange=pl.lit(5),
            ask=pl.col("ask"),
            ask_condition=pl.lit(50),
        )

    def index_eod(self, day: date) -> dict[str, Any]:
        """The index's EOD row (close = the simulated SPX close)."""
        close = self.sim.spot(day)
        return {
            "created": f"{day.isoformat()}T17:15:00.000",
            "open": close,
            "high": close,
            "low": close,
            "close": close,
        }

    def open_interest(self, symbol: str, day: date) -> pl.DataFrame:
        """Open interest as published on `day` (06:30 ET)."""
        chain = self.chain(symbol, day)
        return chain.select(
            symbol=pl.col("root"),
            expiration=pl.col("expiration").cast(pl.String),
            strike=pl.col("strike"),
            right=pl.when(pl.col("right") == "C").then(pl.lit("CALL")).otherwise(pl.lit("PUT")),
            timestamp=pl.lit(f"{day.isoformat()}T06:30:00.000"),
            open_interest=pl.col("open_interest"),
        )


class FakeThetaApp:
    """The ASGI app: stats, concurrency gate and fault injection around a Starlette router."""

    def __init__(self, config: FakeThetaConfig) -> None:
        self.config = config
        self.today = config.today or latest_trading_day()
        self.market = _Market(config.seed)
        self._lock = threading.Lock()
        self._rng = random.Random(config.fault_seed)
        self._script = [f for f in config.faults if f.probability is None]
        self._random = [f for f in config.faults if f.probability is not None]
        self._used: Counter[int] = Counter()
        self.requests_total = 0
        self.by_status: Counter[str] = Counter()
        self.active = 0
        self.waiting = 0
        self.max_concurrency = 0
        self._gate: asyncio.Semaphore | None = None
        self._host: str | None = None
        self.router = Starlette(
            routes=[
                Route("/v3/option/list/expirations", self._expirations),
                Route("/v3/option/list/strikes", self._strikes),
                Route("/v3/option/history/eod", self._eod),
                Route("/v3/option/history/open_interest", self._open_interest),
                Route("/v3/option/history/quote", self._quote),
                Route("/v3/index/history/eod", self._index_eod),
                Route("/v3/_fake/stats", self._stats),
            ]
        )

    # -- bookkeeping -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters since start: requests, responses by status (or fault), peak concurrency."""
        with self._lock:
            return {
                "requests_total": self.requests_total,
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
            await PlainTextResponse(_STATUS_TEXT["429"], status_code=429)(scope, receive, send)
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
            response = PlainTextResponse(_STATUS_TEXT["476"], status_code=476)
            await response(scope, receive, send)
            return
        fault = self._next_fault()
        if fault is None:
            await self._route(scope, receive, send)
            return
        kind = fault.kind
        if kind in _STATUS_TEXT:
            self._count(kind)
            response = PlainTextResponse(_STATUS_TEXT[kind], status_code=int(kind))
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

    async def _expirations(self, request: Request) -> Response:
        def rows() -> list[dict[str, Any]]:
            symbol = _param_symbol(request)
            days = listed_expirations(symbol, self.today)
            return [{"symbol": symbol, "expiration": d.isoformat()} for d in days]

        return await self._answer(request, rows, grouped=False)

    async def _strikes(self, request: Request) -> Response:
        def rows() -> list[dict[str, Any]]:
            symbol = _param_symbol(request)
            expiration = _param_expiration(request, wildcard=False)
            chain = self.market.chain(symbol, self.today)
            strikes = chain.filter(pl.col("expiration") == expiration)["strike"].unique().sort()
            return [{"symbol": symbol, "strike": s} for s in strikes]

        return await self._answer(request, rows, grouped=False)

    async def _eod(self, request: Request) -> Response:
        def frame() -> pl.DataFrame:
            symbol = _param_symbol(request)
            expiration = _param_expiration(request, wildcard=True)
            start, end = _param_date(request, "start_date"), _param_date(request, "end_date")
            if end < start:
                raise _BadParam(f"Invalid parameter end_date={end:%Y%m%d}: before start_date")
            if (end - start).days + 1 > self.config.max_days:
                raise _TooLarge
            days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
            frames = [self.market.eod(symbol, d) for d in days]
            out = pl.concat(frames)
            if expiration is not None:
                out = out.filter(pl.col("expiration") == expiration.isoformat())
            # Rows of one contract together (then by day), as the terminal streams them.
            return out.sort("expiration", "strike", "right", "created", maintain_order=True)

        return await self._answer(request, frame, grouped=True)

    async def _open_interest(self, request: Request) -> Response:
        def frame() -> pl.DataFrame:
            symbol = _param_symbol(request)
            expiration = _param_expiration(request, wildcard=True)
            out = self.market.open_interest(symbol, _param_date(request, "date"))
            if expiration is not None:
                out = out.filter(pl.col("expiration") == expiration.isoformat())
            return out

        return await self._answer(request, frame, grouped=True)

    async def _quote(self, request: Request) -> Response:
        def frame() -> pl.DataFrame:
            symbol = _param_symbol(request)
            expiration = _param_expiration(request, wildcard=True)
            days = _param_days(request)
            if (days[-1] - days[0]).days + 1 > self.config.max_days:
                raise _TooLarge
            step = _INTERVAL_MINUTES.get(request.query_params.get("interval", "1m"))
            if step is None:
                raise _BadParam(
                    f"Invalid parameter interval={request.query_params.get('interval')!r}: "
                    f"the fake serves {', '.join(_INTERVAL_MINUTES)}"
                )
            start_time = _param_time(request, "start_time", "09:30:00")
            end_time = _param_time(request, "end_time", "16:15:00")
            frames = []
            rows = 0
            for day in days:
                listed = listed_expirations(symbol, day) if is_trading_day(day) else []
                for exp in listed if expiration is None else [expiration]:
                    quotes = self.market.quotes(symbol, exp, day, self.now())
                    stamp = pl.col("timestamp").str.slice(11, 8)
                    minute = pl.col("timestamp").str.slice(14, 2).cast(pl.Int64)
                    quotes = quotes.filter(
                        (stamp >= start_time) & (stamp <= end_time) & (minute % step == 0)
                    )
                    rows += quotes.height
                    if rows > self.config.max_quote_rows:
                        raise _TooLarge
                    frames.append(quotes)
            return pl.concat(frames) if frames else pl.DataFrame()

        return await self._answer(request, frame, grouped=True)

    def now(self) -> datetime:
        """The fake's clock: live sessions are quoted up to the last closed minute."""
        return datetime.now(UTC)

    async def _index_eod(self, request: Request) -> Response:
        def rows() -> list[dict[str, Any]]:
            symbol = request.query_params.get("symbol", "").upper()
            if symbol != "SPX":
                raise _BadParam(f"Invalid parameter symbol={symbol!r}: the fake serves SPX")
            start, end = _param_date(request, "start_date"), _param_date(request, "end_date")
            days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
            return [self.market.index_eod(d) for d in days if is_trading_day(d)]

        return await self._answer(request, rows, grouped=False)

    async def _answer(self, request: Request, build: Any, grouped: bool) -> Response:
        """Build the data off the event loop and render it in the requested format."""
        fmt = request.query_params.get("format", "csv").lower()
        if fmt not in ("csv", "json"):
            return PlainTextResponse(f"Invalid parameter format={fmt!r}", status_code=473)
        try:
            data = await asyncio.to_thread(build)
        except _BadParam as exc:
            return PlainTextResponse(str(exc), status_code=473)
        except _TooLarge:
            return PlainTextResponse(_STATUS_TEXT["570"], status_code=570)
        frame = data if isinstance(data, pl.DataFrame) else pl.DataFrame(data)
        if frame.is_empty():
            return PlainTextResponse("No data for the request.", status_code=472)
        if fmt == "csv":
            body = await asyncio.to_thread(frame.write_csv, line_terminator="\r\n")
            return Response(body, media_type="text/csv")
        body = await asyncio.to_thread(self._json, frame, grouped)
        return Response(body, media_type="application/json")

    def _json(self, frame: pl.DataFrame, grouped: bool) -> bytes:
        if self.config.json_layout == "columns":
            return json.dumps({"response": frame.to_dict(as_series=False)}).encode()
        if not grouped:
            return json.dumps({"response": frame.to_dicts()}).encode()
        groups: dict[tuple, dict[str, Any]] = {}
        for row in frame.iter_rows(named=True):
            key = tuple(row[c] for c in _CONTRACT_COLUMNS)
            entry = groups.get(key)
            if entry is None:
                entry = groups[key] = {
                    "contract": {c: row[c] for c in _CONTRACT_COLUMNS},
                    "data": [],
                }
            entry["data"].append({k: v for k, v in row.items() if k not in _CONTRACT_COLUMNS})
        return json.dumps({"response": list(groups.values())}).encode()


class _TooLarge(Exception):
    """The request spans more than the terminal serves at once (answered with 570)."""


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


class FakeThetaTerminal:
    """Runs the fake on 127.0.0.1 in a background thread: `with FakeThetaTerminal(cfg) as t:`
    then point a client at `t.url`."""

    def __init__(self, config: FakeThetaConfig | None = None, port: int = 0) -> None:
        self.app = create_app(config)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v3"
        uv_config = uvicorn.Config(
            self.app,
            http="h11",
            lifespan="off",
            log_level="critical",
            access_log=False,
            # Keep the backlog deep: the fake's own queue, not the kernel's, must answer 429s.
            backlog=512,
        )
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def stats(self) -> dict[str, Any]:
        """The app's counters (see `FakeThetaApp.stats`)."""
        return self.app.stats()

    def __enter__(self) -> FakeThetaTerminal:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake ThetaTerminal did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
