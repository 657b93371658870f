"""The ASGI app: stats, the tier's concurrency gate and fault injection around the routes."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
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
from market_spine.fakes.thetaterminal.market import TerminalMarket
from market_spine.fakes.thetaterminal.params import (
    INTERVAL_MINUTES,
    BadParam,
    TooLarge,
    param_date,
    param_days,
    param_expiration,
    param_symbol,
    param_time,
)
from market_spine.markets.expirations import is_trading_day, listed_expirations

CONTRACT_COLUMNS = ("symbol", "strike", "right", "expiration")


class FakeThetaApp:
    """The ASGI app: stats, concurrency gate and fault injection around a Starlette router."""

    def __init__(self, config: FakeThetaConfig) -> None:
        self.config = config
        self.today = config.today or latest_trading_day()
        self.market = TerminalMarket(config.seed, config.no_offer_every)
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
            symbol = param_symbol(request)
            days = listed_expirations(symbol, self.today)
            return [{"symbol": symbol, "expiration": d.isoformat()} for d in days]

        return await self._answer(request, rows, grouped=False)

    async def _strikes(self, request: Request) -> Response:
        def rows() -> list[dict[str, Any]]:
            symbol = param_symbol(request)
            expiration = param_expiration(request, wildcard=False)
            chain = self.market.chain(symbol, self.today)
            strikes = chain.filter(pl.col("expiration") == expiration)["strike"].unique().sort()
            return [{"symbol": symbol, "strike": s} for s in strikes]

        return await self._answer(request, rows, grouped=False)

    async def _eod(self, request: Request) -> Response:
        def frame() -> pl.DataFrame:
            symbol = param_symbol(request)
            expiration = param_expiration(request, wildcard=True)
            start, end = param_date(request, "start_date"), param_date(request, "end_date")
            if end < start:
                raise BadParam(f"Invalid parameter end_date={end:%Y%m%d}: before start_date")
            if (end - start).days + 1 > self.config.max_days:
                raise TooLarge
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
            symbol = param_symbol(request)
            expiration = param_expiration(request, wildcard=True)
            out = self.market.open_interest(symbol, param_date(request, "date"))
            if expiration is not None:
                out = out.filter(pl.col("expiration") == expiration.isoformat())
            return out

        return await self._answer(request, frame, grouped=True)

    async def _quote(self, request: Request) -> Response:
        def frame() -> pl.DataFrame:
            symbol = param_symbol(request)
            expiration = param_expiration(request, wildcard=True)
            days = param_days(request)
            if (days[-1] - days[0]).days + 1 > self.config.max_days:
                raise TooLarge
            step = INTERVAL_MINUTES.get(request.query_params.get("interval", "1m"))
            if step is None:
                raise BadParam(
                    f"Invalid parameter interval={request.query_params.get('interval')!r}: "
                    f"the fake serves {', '.join(INTERVAL_MINUTES)}"
                )
            start_time = param_time(request, "start_time", "09:30:00")
            end_time = param_time(request, "end_time", "16:15:00")
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
                        raise TooLarge
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
                raise BadParam(f"Invalid parameter symbol={symbol!r}: the fake serves SPX")
            start, end = param_date(request, "start_date"), param_date(request, "end_date")
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
        except BadParam as exc:
            return PlainTextResponse(str(exc), status_code=473)
        except TooLarge:
            return PlainTextResponse(STATUS_TEXT["570"], status_code=570)
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
            key = tuple(row[c] for c in CONTRACT_COLUMNS)
            entry = groups.get(key)
            if entry is None:
                entry = groups[key] = {
                    "contract": {c: row[c] for c in CONTRACT_COLUMNS},
                    "data": [],
                }
            entry["data"].append({k: v for k, v in row.items() if k not in CONTRACT_COLUMNS})
        return json.dumps({"response": list(groups.values())}).encode()


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
