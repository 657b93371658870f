"""`market-spine stream`: real-time bars from TWS into the lake and onto the API's WebSocket,
served by one process (the API with streaming on); `--fake` streams the simulated market from
an in-process fake TWS, for demos and local work without IB."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from market_spine.cli.console import (
    console,
    fail,
    interrupt_on_signals,
    quiet_libraries,
    settings_from_env,
)
from market_spine.errors import InvalidInput, SpineError
from market_spine.settings import Settings

if TYPE_CHECKING:
    import uvicorn

    from market_spine.streaming.hub import BarHub

#: Seconds open connections get to finish after Ctrl-C / SIGTERM before they are closed.
GRACE_SECONDS = 2


def market_closed_note(roots: Sequence[str], now: datetime) -> str | None:
    """None while any root's session is open; otherwise when each next opens (UTC), since a
    closed market streams no bars and silence would look like a fault."""
    from market_spine.markets import calendars

    today = now.astimezone(UTC).date() - timedelta(days=1)
    opens = []
    for root in roots:
        upcoming = [s for s in calendars.sessions(root, today, today + timedelta(days=14))]
        if any(s.open <= now < s.close for s in upcoming):
            return None
        later = [s.open for s in upcoming if s.open > now]
        if later:
            opens.append(f"{root} {later[0]:%a %Y-%m-%d %H:%M} UTC")
    return "the market is closed, so no bars arrive until it opens: " + ", ".join(opens)


def _server(config: uvicorn.Config, hub: BarHub) -> uvicorn.Server:
    """A uvicorn server that, on Ctrl-C or SIGTERM, first tells WebSocket clients it stops:
    their handlers end, so shutdown does not wait on connections that never close."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            hub.close()
            super().handle_exit(sig, frame)

    return Server(config)


def stream(
    symbols: Annotated[
        str | None, typer.Option(help="Roots to stream, e.g. CL,ES (default: the configured).")
    ] = None,
    fake: Annotated[
        bool, typer.Option(help="Stream the simulated market from an in-process fake TWS.")
    ] = False,
    flush_seconds: Annotated[
        float, typer.Option(min=0.1, max=60.0, help="How often micro-batches land.")
    ] = 1.0,
    port: Annotated[int | None, typer.Option(help="API port (default: the configured).")] = None,
) -> None:
    """Subscribe 5-second bars, land micro-batches and closed minutes, serve the API with
    `WS /v1/stream/bars` until Ctrl-C."""
    interrupt_on_signals()
    quiet_libraries(show_warnings=True)
    from market_spine.markets.instruments import get_instrument

    try:
        settings = settings_from_env()
        wanted = symbols.split(",") if symbols else settings.symbols
        roots = tuple(get_instrument(s).root for s in wanted)
        # Before the fake TWS starts or anything is said: a taken port runs nothing.
        _port_free(settings.api_host, port or settings.api_port)
        with contextlib.ExitStack() as stack:
            host, tws_port = _tws(settings, fake, stack)
            _serve_stream(settings, roots, host, tws_port, flush_seconds, port, stack)
    except SpineError as exc:
        fail(exc)
    console.print("stream stopped")


def _tws(settings: Settings, fake: bool, stack: contextlib.ExitStack) -> tuple[str, int]:
    """Where TWS listens: the configured gateway, or an in-process fake TWS for `--fake`."""
    if not fake:
        return settings.ib_host, settings.ib_port
    from market_spine.fakes.tws import FakeTWS, FakeTWSConfig

    tws = stack.enter_context(FakeTWS.running(FakeTWSConfig(seed=settings.sim_seed)))
    console.print(f"fake TWS on {tws.host}:{tws.port}")
    return tws.host, tws.port


def _port_free(host: str, port: int) -> None:
    """InvalidInput, before anything starts, when the stream's API port is taken (usually by
    the API `market-spine up` serves)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise InvalidInput(
                f"port {port} on {host} is in use (by the API `market-spine up` serves?): the "
                "stream serves its own API with the live bars; give it a free port with "
                "`--port`, and open its /ui/live there"
            ) from None


def _serve_stream(
    settings: Settings,
    roots: tuple[str, ...],
    host: str,
    tws_port: int,
    flush_seconds: float,
    port: int | None,
    stack: contextlib.ExitStack,
) -> None:
    """Start the streamer into the lake and the hub, then serve the API until a signal."""

    from market_spine.api.app import create_app
    from market_spine.api.server import server_config
    from market_spine.providers.ib_connection import IBSettings
    from market_spine.streaming.service import StreamConfig, Streamer

    api_port = port or settings.api_port
    app = create_app(settings)
    tws_settings = IBSettings(host, tws_port, client_id=settings.ib_client_id + 1)
    config = StreamConfig(roots, tws_settings, flush_seconds=flush_seconds)
    streamer = Streamer(settings.lake(), config, hub=app.state.hub)
    subscribed = streamer.start()
    stack.callback(streamer.stop)
    app.state.streamer = streamer
    console.print(
        f"streaming {subscribed}; WebSocket ws://{settings.api_host}:{api_port}"
        f"/v1/stream/bars?symbols={','.join(roots)}"
        + (
            " (with a key as the subprotocol `bearer.<key>`; `market-spine keys create "
            "--role reader` makes one)"
            if settings.auth == "on"
            else ""
        )
    )
    console.print(f"live dashboard http://{settings.api_host}:{api_port}/ui/live")
    note = market_closed_note(roots, datetime.now(UTC))
    if note:
        console.print(f"[yellow]{note}[/]")
    # Open WebSockets never end by themselves: the server tells them it stops, and bounds the
    # wait for any that linger.
    server = _server(
        server_config(
            app,
            settings,
            host=settings.api_host,
            port=api_port,
            log_level="warning",
            timeout_graceful_shutdown=GRACE_SECONDS,
        ),
        app.state.hub,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
