"""`market-spine stream`: real-time bars from TWS into the lake and onto the API's WebSocket,
served by one process (the API with streaming on); `--fake` streams the simulated market from
an in-process fake TWS, for demos and local work without IB."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from rich.console import Console

from market_spine.errors import SpineError
from market_spine.settings import Settings

console = Console(stderr=True)


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
    import uvicorn

    from market_spine.api.app import create_app
    from market_spine.lake.store import lake_at
    from market_spine.markets.instruments import get_instrument
    from market_spine.streaming.service import StreamConfig, Streamer

    try:
        settings = Settings.from_env()
        roots = tuple(
            get_instrument(s).root for s in (symbols.split(",") if symbols else settings.symbols)
        )
    except SpineError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    with contextlib.ExitStack() as stack:
        host, tws_port = settings.ib_host, settings.ib_port
        if fake:
            from market_spine.fakes.tws import FakeTWS, FakeTWSConfig

            tws = stack.enter_context(FakeTWS.running(FakeTWSConfig(seed=settings.sim_seed)))
            host, tws_port = tws.host, tws.port
            console.print(f"fake TWS on {host}:{tws_port}")
        app = create_app(settings)
        config = StreamConfig(
            roots, host, tws_port, client_id=settings.ib_client_id + 1, flush_seconds=flush_seconds
        )
        streamer = Streamer(lake_at(str(settings.lake_root)), config, hub=app.state.hub)
        try:
            subscribed = streamer.start()
        except SpineError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        stack.callback(streamer.stop)
        app.state.streamer = streamer
        api_port = port or settings.api_port
        console.print(
            f"streaming {subscribed}; WebSocket ws://{settings.api_host}:{api_port}"
            f"/v1/stream/bars?symbols={','.join(roots)}"
        )
        uvicorn.run(app, host=settings.api_host, port=api_port, log_level="warning")
