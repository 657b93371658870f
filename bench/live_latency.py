"""The live dashboard's latency: a 5-second bar's close at the source → drawn on `/ui/live` in
headless Chromium (one page per symbol, CL, ES and NG), p99 measured in the page (it stamps
each bar's WebSocket arrival and the animation frame that drew it); baseline in the same run:
the same bars' arrival at the pages alone, and at a plain Python WebSocket client subscribed
beside them.

The fake TWS runs a market clock at real speed from a fixed session time; a bar closes at its
`ts` + 5 s on that clock, mapped to the wall clock the page stamps with by the clock's offset.
The first `WARM_UP_S` seconds are left out (the page reads the session's minutes from the lake
when the first bar of a new session arrives, and holds bars meanwhile); their worst is printed
apart. `BENCH_LIVE_SECONDS` sets the run's length (default 180 s). Needs Debian's chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import report
from playwright.sync_api import sync_playwright
from websockets.sync.client import connect

from market_spine.api.app import create_app
from market_spine.fakes.tws import FakeTWS, FakeTWSConfig
from market_spine.lake import Lake
from market_spine.providers.ib_connection import IBSettings
from market_spine.settings import Settings
from market_spine.streaming.service import StreamConfig, Streamer
from market_spine_tests.kit.api import serving_app

SYMBOLS = ("CL", "ES", "NG")
START = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
SECONDS = float(os.environ.get("BENCH_LIVE_SECONDS", "180"))
WARM_UP_S = 10.0
TARGETS = {"drawn_p99_ms": 1000.0}


def _offset_ms(clock) -> float:
    """Market clock minus wall clock, ms (constant at real speed; the median of a few reads)."""
    reads = []
    for _ in range(7):
        wall = time.time()
        reads.append((clock().timestamp() - wall) * 1000)
    return statistics.median(reads)


def _close_wall_ms(ts: str, offset_ms: float) -> float:
    """Wall-clock ms at which the 5-second bar opening at `ts` closed at the source."""
    closed = datetime.fromisoformat(ts.replace("Z", "+00:00")) + timedelta(seconds=5)
    return closed.timestamp() * 1000 - offset_ms


def _python_client(url: str, stop: threading.Event, out: list[tuple[str, float]]) -> None:
    with connect(url, open_timeout=10) as ws:
        while not stop.is_set():
            try:
                message = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
            if message.get("type") == "bar":
                out.append((message["ts"], time.time() * 1000))


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("chromium is not installed: `make system-packages` installs it")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_live_"))
    settings = Settings.from_env({"MARKET_SPINE_HOME": str(work / "home")})
    stop = threading.Event()
    python_seen: list[tuple[str, float]] = []
    try:
        with (
            FakeTWS.running(FakeTWSConfig(start=START, speed=1.0)) as tws,
            sync_playwright() as playwright,
        ):
            clock = tws.server.clock.now
            # Authentication off: this measures the page (auth_overhead.py, authentication).
            app = create_app(replace(settings, auth="off", symbols=SYMBOLS))
            config = StreamConfig(
                SYMBOLS, IBSettings(tws.host, tws.port, client_id=41), flush_seconds=1.0
            )
            streamer = Streamer(Lake(settings.lake_root), config, hub=app.state.hub, clock=clock)
            app.state.streamer = streamer
            with serving_app(app, role=None) as http:
                base = str(http.base_url).rstrip("/")
                browser = playwright.chromium.launch(executable_path=_chromium(), headless=True)
                # One analyst's page per symbol, each drawing its own.
                pages = []
                for symbol in SYMBOLS:
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    page.goto(f"{base}/ui/live#symbol={symbol}")
                    page.wait_for_selector("#live-state[data-kind='ok']", timeout=30_000)
                    pages.append(page)
                url = f"ws{base[4:]}/v1/stream/bars?symbols={','.join(SYMBOLS)}&interval=5s"
                client = threading.Thread(target=_python_client, args=(url, stop, python_seen))
                client.start()
                time.sleep(0.5)
                streamer.start()
                began_wall_ms = time.time() * 1000
                offset = _offset_ms(clock)
                report.log(f"streaming {SYMBOLS} for {SECONDS:.0f} s, a page on each")
                time.sleep(SECONDS)
                samples = [s for p in pages for s in p.evaluate("() => window.spineLive.latency")]
                candles = [p.get_attribute("#chart", "data-candles") for p in pages]
                stop.set()
                client.join(timeout=30)
                browser.close()
                streamer.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    steady = began_wall_ms + WARM_UP_S * 1000
    fives = [s for s in samples if s["interval"] == "5s"]
    warm = [s for s in fives if _close_wall_ms(s["ts"], offset) < steady]
    kept = [s for s in fives if _close_wall_ms(s["ts"], offset) >= steady]
    drawn = report.latency([s["drawn"] - _close_wall_ms(s["ts"], offset) for s in kept])
    arrived = report.latency([s["arrived"] - _close_wall_ms(s["ts"], offset) for s in kept])
    draw_only = report.latency([s["drawn"] - s["arrived"] for s in kept])
    python = report.latency(
        [at - _close_wall_ms(ts, offset) for ts, at in python_seen if at >= steady]
    )
    warm_max = max((s["drawn"] - _close_wall_ms(s["ts"], offset) for s in warm), default=None)
    rows = [
        ["bar close → drawn on the page", drawn["n"], drawn["p50_ms"], drawn["p99_ms"], "≤ 1000"],
        ["bar close → arrived at the page (baseline)", *_cells(arrived), "–"],
        ["bar close → arrived at a Python client (baseline)", *_cells(python), "–"],
        ["arrived → drawn, in the page", *_cells(draw_only), "–"],
    ]
    report.table(
        f"Live dashboard latency over {SECONDS:.0f} s of 5-second bars, {len(SYMBOLS)} pages "
        f"(one per symbol; ms; candles drawn {', '.join(map(str, candles))})",
        ["path", "samples", "p50 ms", "p99 ms", "target"],
        rows,
    )
    if warm_max is not None:
        report.log(
            f"first {WARM_UP_S:.0f} s (the session's minutes read first): worst {warm_max:.0f} ms"
        )
    report.save(
        "live_latency",
        {
            "seconds": SECONDS,
            "symbols": list(SYMBOLS),
            "drawn": drawn,
            "arrived_page": arrived,
            "arrived_python": python,
            "arrived_to_drawn": draw_only,
            "warm_up_worst_ms": warm_max,
            "targets": TARGETS,
        },
    )


def _cells(figures: dict[str, float]) -> list[float]:
    return [figures["n"], figures["p50_ms"], figures["p99_ms"]]


if __name__ == "__main__":
    main()
