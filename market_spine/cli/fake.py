"""`market-spine fake`: local fake provider servers that speak the real protocols."""

from __future__ import annotations

from typing import Annotated

import typer

from market_spine.cli.console import console

fake = typer.Typer(help="Local fake provider servers that speak the real protocols.")


@fake.command("thetaterminal")
def fake_thetaterminal(
    port: Annotated[int, typer.Option(help="Port (the real terminal's v3 port is 25503).")] = 25503,
    tier_concurrency: Annotated[int, typer.Option(help="Requests served at once.")] = 4,
    seed: Annotated[int, typer.Option(help="Simulated market seed.")] = 7,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject a fault into the next N requests, in the order given (repeatable): "
            "KIND or KIND:N or KIND:* (every request). Kinds: a status (429, 471, 473, 474, "
            "476, 500, 570, 571), slow, drop, truncate, malformed, nulls.",
            metavar="KIND[:N]",
        ),
    ] = None,
) -> None:
    """Serve the simulated SPX option market as ThetaTerminal v3 on 127.0.0.1 until Ctrl-C."""
    import uvicorn

    from market_spine.fakes.thetaterminal import FakeThetaConfig, create_app, parse_fault

    try:
        faults = [parse_fault(f) for f in fault or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault") from None
    config = FakeThetaConfig(seed=seed, concurrency=tier_concurrency, faults=faults)
    console.print(f"fake ThetaTerminal v3 at http://127.0.0.1:{port}/v3")
    for f in faults:
        times = "every request" if f.times is None else f"{f.times} request(s)"
        console.print(f"fault {f.kind}: {times}", highlight=False)
    uvicorn.run(create_app(config), host="127.0.0.1", port=port, log_level="warning")


@fake.command("tws")
def fake_tws(
    port: Annotated[int, typer.Option(help="Port (IB Gateway paper is 4002).")] = 4002,
    seed: Annotated[int, typer.Option(help="Simulated market seed.")] = 7,
    speed: Annotated[float, typer.Option(min=0.01, help="Market seconds per wall second.")] = 1.0,
    pacing_scale: Annotated[
        float, typer.Option(min=0.001, help="Scale IB's pacing windows (1 = real).")
    ] = 1.0,
) -> None:
    """Serve the simulated futures market as a TWS / IB Gateway on 127.0.0.1 until Ctrl-C."""
    from market_spine.fakes.tws import FakeTWSConfig, PacingLimits, run_forever

    config = FakeTWSConfig(seed=seed, speed=speed, pacing=PacingLimits().scaled(pacing_scale))
    run_forever("127.0.0.1", port, config)
