"""`market-spine`: the operator's command line — process dates through Dagster, start the platform,
serve the API, maintain the lake."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from market_spine.cli_catalog import catalog as catalog_command
from market_spine.cli_import import import_app
from market_spine.cli_stream import stream as stream_command
from market_spine.errors import SpineError
from market_spine.settings import Settings

app = typer.Typer(
    help="Market Spine: market data as Dagster assets over a Delta Lake.", no_args_is_help=True
)
console = Console(stderr=True)
REPO = Path(__file__).resolve().parent.parent


def _settings(symbols: str | None = None) -> Settings:
    env = dict(os.environ)
    if symbols:
        env["MARKET_SPINE_SYMBOLS"] = symbols
    return Settings.from_env(env)


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


DOMAINS = ("futures", "options", "warehouse", "all")


def _process(settings: Settings, start, end, domain: str = "all") -> bool:
    """Materialize [start, end] of the domain(s) with a progress bar; True if every run passed."""
    if domain not in DOMAINS:
        raise SpineError(f"--domain {domain!r} is not one of {', '.join(DOMAINS)}")
    ok = True
    if domain in ("futures", "all"):
        ok = _process_futures(settings, start, end)
    if domain in ("options", "all"):
        ok = _process_options(settings, start, end) and ok
    if domain in ("warehouse", "all"):
        ok = _process_warehouse(settings, start, end) and ok
    return ok


def _process_warehouse(settings: Settings, start, end) -> bool:
    """Collect check results and build the dbt warehouse over what the lake now holds."""
    from market_spine.home import instance
    from market_spine.runner import materialize_warehouse

    # dagster-dbt echoes dbt's whole log to stdout (the UI keeps it per step): here only a
    # failure's tail is worth showing.
    dbt_log = io.StringIO()
    with console.status("warehouse: dbt build"), contextlib.redirect_stdout(dbt_log):
        runs = materialize_warehouse(settings, start, end, instance=instance(settings))
    for run in runs:
        status = "[green]ok[/]" if run.success else "[red]failed[/]"
        failed = f" failed checks: {', '.join(run.failed_checks)}" if run.failed_checks else ""
        console.print(f"warehouse: {run.symbol} {status} run {run.run_id[:8]}{failed}")
    ok = all(run.success for run in runs)
    if not ok:
        console.print("\n".join(dbt_log.getvalue().splitlines()[-40:]), markup=False)
    return ok


def _process_options(settings: Settings, start, end) -> bool:
    """One backfill run of the option assets over the range, reported like the futures runs."""
    from market_spine.home import instance
    from market_spine.runner import materialize_options

    with console.status(f"options {start}..{end}"):
        run = materialize_options(settings, start, end, instance=instance(settings))
    if run is None:
        console.print(f"options: no Cboe trading day in {start}..{end} (or before the history)")
        return True
    status = "[green]ok[/]" if run.success else "[red]failed[/]"
    failed = f" failed checks: {', '.join(run.failed_checks)}" if run.failed_checks else ""
    console.print(f"SPX/SPXW {run.start}..{run.end} {status} run {run.run_id[:8]}{failed}")
    return run.success


def _process_futures(settings: Settings, start, end) -> bool:
    """Futures runs, one per symbol, with a progress bar over partitions."""
    from market_spine.home import instance
    from market_spine.runner import materialize_range, plan

    days = plan(settings.symbols, start, end)
    total = sum(len(d) for d in days.values())
    inst = instance(settings)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partitions"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("futures", total=total)

        def on_run(run) -> None:
            done = len([d for d in days[run.symbol] if run.start <= d <= run.end])
            status = "[green]ok[/]" if run.success else "[red]failed[/]"
            failed = f" failed checks: {', '.join(run.failed_checks)}" if run.failed_checks else ""
            progress.console.print(
                f"{run.symbol} {run.start}..{run.end} {status} run {run.run_id[:8]}{failed}"
            )
            progress.advance(task, done)

        runs = materialize_range(
            settings, settings.symbols, start, end, instance=inst, on_run=on_run
        )
    return all(r.success for r in runs)


@app.command()
def process(
    date: Annotated[str | None, typer.Option(help="One trade date, e.g. 2024-03-05.")] = None,
    start: Annotated[str | None, typer.Option(help="First trade date of a range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last trade date of a range (inclusive).")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated roots, e.g. CL,ES.")] = None,
    domain: Annotated[str, typer.Option(help="futures, options, warehouse or all.")] = "all",
) -> None:
    """Materialize partitions through Dagster (the runs show in the UI)."""
    from market_spine.calendars import parse_date

    try:
        if date and (start or end):
            raise SpineError("give either --date or --start/--end, not both")
        if not date and not start:
            raise SpineError("give --date D or --start D1 --end D2")
        lo = parse_date(date or start)
        hi = parse_date(date or end or start)
        ok = _process(_settings(symbols), lo, hi, domain)
    except SpineError as exc:
        _fail(exc)
    raise typer.Exit(0 if ok else 1)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
) -> None:
    """Serve the HTTP read API."""
    import uvicorn

    from market_spine.api.app import create_app

    settings = _settings()
    uvicorn.run(
        create_app(settings), host=host or settings.api_host, port=port or settings.api_port
    )


app.command("catalog")(catalog_command)
app.command("stream")(stream_command)
app.add_typer(import_app, name="import")

fake = typer.Typer(help="Local fake provider servers that speak the real protocols.")
app.add_typer(fake, name="fake")


@fake.command("thetaterminal")
def fake_thetaterminal(
    port: Annotated[int, typer.Option(help="Port (the real terminal's v3 port is 25503).")] = 25503,
    tier_concurrency: Annotated[int, typer.Option(help="Requests served at once.")] = 4,
    seed: Annotated[int, typer.Option(help="Simulated market seed.")] = 7,
) -> None:
    """Serve the simulated SPX option market as ThetaTerminal v3 on 127.0.0.1 until Ctrl-C."""
    import uvicorn

    from market_spine.fakes.thetaterminal import FakeThetaConfig, create_app

    config = FakeThetaConfig(seed=seed, concurrency=tier_concurrency)
    console.print(f"fake ThetaTerminal v3 at http://127.0.0.1:{port}/v3")
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


@app.command()
def maintain(
    retention_hours: Annotated[int, typer.Option(help="Keep time travel this far back.")] = 168,
) -> None:
    """Compact, checkpoint and vacuum every table now (the daily schedule does the same)."""
    from market_spine.lake import Lake
    from market_spine.lake.maintenance import maintain as maintain_table

    lake = Lake(_settings().lake_root)
    for dataset in lake.datasets():
        report = maintain_table(lake, dataset, retention_hours=retention_hours)
        console.print(
            f"{dataset}: files {report.files_before} → {report.files_after}, "
            f"version {report.version}"
        )


@app.command()
def up(
    days: Annotated[int, typer.Option(help="Trading days of history to materialize first.")] = 10,
    serve: Annotated[
        bool, typer.Option(help="Start the Dagster UI and the API after loading.")
    ] = True,
) -> None:
    """Set up the home, materialize recent sessions, then start the Dagster UI and the API."""
    from market_spine import calendars
    from market_spine.home import prepare_home

    try:
        settings = _settings()
        prepare_home(settings)
        now = datetime.now(UTC)
        sessions = [
            s for sym in settings.symbols for s in calendars.latest_sessions(sym, now, days)
        ]
        start = min(s.trade_date for s in sessions)
        end = max(s.trade_date for s in sessions)
        console.print(
            f"home: {settings.home}\nloading {', '.join(settings.symbols)} {start} → {end}"
        )
        _process(settings, start, end)
    except SpineError as exc:
        _fail(exc)
    if not serve:
        return
    env = {
        **os.environ,
        "DAGSTER_HOME": str(settings.dagster_home),
        "MARKET_SPINE_HOME": str(settings.home),
    }
    bin_dir = Path(sys.executable).parent
    # Dagster runs from the home so the repo's template dagster.yaml is not mistaken for config.
    ui = [str(bin_dir / "dagster"), "dev", "-w", str(REPO / "workspace.yaml")]
    ui += ["-h", settings.api_host, "-p", str(settings.ui_port)]
    # Each service leads its own process group, so stopping it also stops what it spawned
    # (dagster dev starts a webserver, a daemon and code servers).
    children = [
        subprocess.Popen(ui, cwd=settings.home, env=env, start_new_session=True),
        subprocess.Popen(
            [str(bin_dir / "market-spine"), "api"],
            cwd=settings.home,
            env=env,
            start_new_session=True,
        ),
    ]
    stop = _stop_on_signals()
    ui_url = f"http://{settings.api_host}:{settings.ui_port}"
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    if _wait_until_up([f"{ui_url}/server_info", f"{api_url}/healthz"], children, stop):
        console.print(
            f"\n[bold green]Market Spine is up[/]\n"
            f"  Dagster UI: {ui_url}\n"
            f"  API:        {api_url}/docs\n"
            "Ctrl-C stops both."
        )
    try:
        while not stop.is_set() and all(c.poll() is None for c in children):
            stop.wait(1)
    finally:
        _shutdown(children)


def _stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (a background job ignores SIGINT, so TERM matters)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _wait_until_up(
    urls: list[str], children: list[subprocess.Popen], stop: threading.Event, timeout: float = 180
) -> bool:
    """Poll each URL until it answers; False if a child died, a signal came, or time ran out."""
    import httpx

    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and time.monotonic() < deadline and not stop.is_set():
        if any(c.poll() is not None for c in children):
            console.print("[bold red]a service exited during start-up; see its log above[/]")
            return False
        try:
            httpx.get(pending[0], timeout=2).raise_for_status()
            pending.pop(0)
        except httpx.HTTPError:
            stop.wait(1)
    return not pending


def _shutdown(children: list[subprocess.Popen]) -> None:
    """Ask each service's process group to stop (SIGINT: dagster dev's graceful stop), wait up
    to 20 s for every process of the groups to exit, then kill what is left."""
    for child in children:
        _signal_group(child, signal.SIGINT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_group_alive(c) for c in children):
        for child in children:
            child.poll()  # reap, so an exited leader does not linger as a zombie
        time.sleep(0.2)
    for child in children:
        _signal_group(child, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)


def _group_alive(child: subprocess.Popen) -> bool:
    try:
        os.killpg(child.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(child: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, sig)


if __name__ == "__main__":
    app()
