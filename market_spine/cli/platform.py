"""`market-spine up` and `api`: load recent sessions, then serve the Dagster UI and the API, and
stop every process they started on Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, cast

import typer

from market_spine.cli.console import command_run, console, quiet_libraries, settings_from_env
from market_spine.cli.process import report_failures, run_domains
from market_spine.settings import UI_HOST, UI_PATH_PREFIX, Settings

if TYPE_CHECKING:
    from market_spine.runs.launch import RunSummary

#: Seconds a stop waits for the runs in flight to end canceled, then for the services to exit
#: (after which they are killed): a stop takes at most about their sum, and says so.
RUNS_STOP_S, SERVICES_STOP_S = 5.0, 8.0


def api(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    log_level: Annotated[
        str, typer.Option(help="critical, error, warning, info (with access lines) or debug.")
    ] = "info",
) -> None:
    """Serve the HTTP read API."""
    import uvicorn

    from market_spine.api.app import create_app
    from market_spine.api.server import server_config
    from market_spine.api.tls import tls_options
    from market_spine.home import prepare_home

    with command_run():
        settings = settings_from_env()
        # A replica may start on an empty home (a pod's scratch volume): it opens the instance
        # its profile names, so the profile's dagster.yaml must be in place first.
        prepare_home(settings)
    # A service: what goes wrong on the server (a part unavailable, readiness lost) is in its
    # log, which the API's answers point operators at.
    quiet_libraries(show_warnings=True, dagster=False)
    warn_if_auth_off(settings)
    config = server_config(
        create_app(settings),
        settings,
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level=log_level,
        **tls_options(settings),
    )
    uvicorn.Server(config).run()


def warn_if_auth_off(settings: Settings) -> None:
    """Say in red, on the console, that the API serves everyone when authentication is off."""
    if settings.auth == "off":
        console.print(
            "[bold red]WARNING: authentication is OFF (MARKET_SPINE_AUTH=off): anyone who "
            "reaches the API reads everything as admin. For local development only.[/]"
        )


def admin_key_note(settings: Settings) -> str:
    """Make the home's admin key on first start; the lines saying where it is (never the key)
    and how to issue keys for readers."""
    from market_spine.security.bootstrap import ensure_admin_key

    if settings.auth == "off":
        return "  API keys:   none needed (authentication is off)"
    path, made = ensure_admin_key(settings.home)
    return (
        f"  Admin key:  {path}{' (made now)' if made else ''}: send it as "
        "`Authorization: Bearer <key>`\n"
        "  Reader keys: market-spine keys create --role reader --name <who>"
    )


def up(
    days: Annotated[
        int,
        typer.Option(
            min=0,
            help="Trading days of history to materialize first (with each market's last "
            "closed session, which its freshness check owes); 0 starts the services on the "
            "home as it is (a restart).",
        ),
    ] = 10,
    serve: Annotated[
        bool, typer.Option(help="Start the Dagster UI and the API after loading.")
    ] = True,
) -> None:
    """Set up the home, materialize recent sessions, then start the Dagster UI and the API
    (`--days 0` loads nothing: the way to restart them on a home that holds data)."""
    from market_spine.company.home_defs import require_declarations

    with command_run():
        settings = settings_from_env()
        warn_if_auth_off(settings)
        # The services load the code location, which refuses a company file that does not
        # load: refuse here first, naming every problem, rather than serve a broken location.
        require_declarations(settings.home)
        runs = _load_recent(settings, days) if days else _prepared(settings)
        keys_note = admin_key_note(settings)
    failed = [r for r in runs if not r.success]
    report_failures(runs)
    served = _serve(settings, failed, len(runs), keys_note) if serve else True
    raise typer.Exit(1 if failed or not served else 0)


def _prepared(settings: Settings) -> list[RunSummary]:
    """Prepare the home without loading anything (a restart of the services)."""
    from market_spine.home import prepare_home

    prepare_home(settings)
    console.print(f"home: {settings.home}\nloading nothing (--days 0)")
    return []


def _load_recent(settings: Settings, days: int) -> list[RunSummary]:
    """Prepare the home and materialize every domain over the last `days` sessions."""
    from market_spine.home import prepare_home

    prepare_home(settings)
    futures, options = load_ranges(settings.symbols, datetime.now(UTC), days)
    start = min(futures[0], options[0]) if options else futures[0]
    console.print(
        f"home: {settings.home}\nloading {', '.join(settings.symbols)} "
        f"{futures[0]} → {futures[1]}"
        + (f"; SPX/SPXW {options[0]} → {options[1]}" if options else "")
    )
    runs = run_domains(settings, futures[0], futures[1], ("futures",))
    if options:
        runs += run_domains(settings, options[0], options[1], ("options",))
    runs += run_domains(settings, start, futures[1], ("company",))
    return runs + run_domains(settings, start, futures[1], ("warehouse",))


def load_ranges(
    symbols: tuple[str, ...], now: datetime, days: int
) -> tuple[tuple[date, date], tuple[date, date] | None]:
    """The trade dates a load of the last `days` sessions covers: the futures roots' (their
    sessions open on the evening before), and the option chains' (Cboe days whose session has
    opened; None when none has). Each market is counted on its own calendar, so a Monday load
    before the Cboe open still takes Friday's chains. Each range also reaches back to its
    market's last closed session, which the freshness checks owe whatever the hour: a load
    while a session trades takes the one before it too (Friday's chains on a Monday)."""
    from market_spine.markets import calendars, expirations
    from market_spine.options.freshness import last_closed_session

    sessions = [s for sym in symbols for s in calendars.latest_sessions(sym, now, days)]
    for sym in symbols:
        closed = [s for s in calendars.latest_sessions(sym, now, 2) if s.close <= now]
        sessions += closed[-1:]
    futures = (min(s.trade_date for s in sessions), max(s.trade_date for s in sessions))
    opened = expirations.opened_trading_days(now, days)
    owed = last_closed_session(now)
    if owed is not None:
        opened = sorted({*opened, owed})
    return futures, (opened[0], opened[-1]) if opened else None


def _serve(settings: Settings, failed: list[RunSummary], total: int, keys_note: str) -> bool:
    """Run the Dagster UI (with its daemon) and the API until a signal or either one exits;
    False when they never came up (a port in use, say), so `up` exits non-zero.

    A failed load still serves: re-executing the failed runs from the UI, once the cause is
    fixed, is the way to repair them. But it says so in red, and `up` exits non-zero.

    While serving, the console says one line per run that starts or ends (`run_watch`) and a
    service's errors in full; the services' whole output goes to `<home>/logs/dagster.log`."""
    from market_spine.cli.service_log import service_log_path
    from market_spine.runs.deployment import clear_stopped

    serving_since = datetime.now(UTC)
    clear_stopped(settings.dagster_home)
    children, pumps = _start_services(settings)
    stop = _stop_on_signals()
    # The addresses `status` probes too: loopback when the API binds every interface.
    ui_url, api_url = settings.ui_local_url, settings.api_local_url
    up = _wait_until_up([f"{ui_url}/server_info", f"{api_url}/healthz"], children, stop)
    if not up and not stop.is_set():
        console.print(
            f"[bold red]error:[/] the Dagster UI ({settings.ui_port}) or the API "
            f"({settings.api_port}) did not come up: if a port is in use, set "
            "MARKET_SPINE_UI_PORT / MARKET_SPINE_API_PORT to free ones"
        )
    if up:
        headline = (
            f"[bold red]Market Spine is up, but {len(failed)} of {total} loading runs "
            "failed[/] (cause above): fix it, then re-execute them from the Dagster UI (Runs)"
            if failed
            else "[bold green]Market Spine is up[/]"
        )
        console.print(
            f"\n{headline}\n"
            f"  Dagster UI: {ui_url} (this machine; elsewhere {api_url}{UI_PATH_PREFIX}/ "
            "with an operator key as the password the browser asks for)\n"
            f"  API:        {api_url}/docs\n"
            f"  Dashboards: {api_url}/ui/live and {api_url}/ui/readiness (with a key)\n"
            f"{keys_note}\n"
            f"  Service log: {service_log_path(settings.home)}\n"
            "Ctrl-C stops both."
        )
    try:
        _watch_runs(settings, serving_since, children, stop)
    finally:
        stop_deployment(settings, children, pumps)
    return up


def stop_deployment(
    settings: Settings,
    children: list[subprocess.Popen],
    pumps: list[threading.Thread],
    runs_s: float = RUNS_STOP_S,
    services_s: float = SERVICES_STOP_S,
) -> None:
    """Stop what `up` started, saying what each step waits for and how long at most: cancel
    the runs in flight (`runs_s`), stop the services (`services_s`, then killed), then mark the
    home stopped (`runs.deployment`) so `status` says so at once."""
    from market_spine.cli.service_log import DRAIN_S
    from market_spine.runs.deployment import mark_stopped

    began = time.monotonic()
    console.print(
        f"stopping: canceling the runs in flight (up to {runs_s:.0f} s), then the Dagster UI, "
        f"daemon and API (up to {services_s:.0f} s, then killed)"
    )
    _cancel_runs(settings, runs_s)
    console.print(
        "waiting for the Dagster UI, daemon and API to exit "
        f"(up to {services_s:.0f} s, then up to {DRAIN_S:.0f} s for their last lines to reach "
        "the service log)"
    )
    stop_services(children, pumps, grace_s=services_s)
    mark_stopped(settings.dagster_home)
    console.print(f"stopped in {time.monotonic() - began:.1f} s")


def stop_services(
    children: list[subprocess.Popen],
    pumps: list[threading.Thread],
    grace_s: float = SERVICES_STOP_S,
) -> None:
    """Stop the services (`_shutdown`), then let their output reach the service log to its end:
    the lines a service prints while it stops are its most telling."""
    from market_spine.cli.service_log import drain

    _shutdown(children, grace_s)
    if not drain(pumps):
        console.print(
            "[yellow]the service log may miss the services' last lines: a process they "
            "started still holds their output open[/]"
        )


def _watch_runs(
    settings: Settings,
    since: datetime,
    children: list[subprocess.Popen],
    stop: threading.Event,
    every_s: float = 5.0,
) -> None:
    """Until a signal or a service exits: every `every_s` seconds, a line per run that started
    or ended since the last look. A failed look (the instance busy) waits for the next one."""
    from market_spine.cli.run_watch import RunWatch
    from market_spine.home import existing_instance

    found = existing_instance(settings)
    watch = None if found is None else RunWatch(found, since)
    next_look = time.monotonic() + every_s
    while not stop.is_set() and all(c.poll() is None for c in children):
        stop.wait(1)
        if watch is None or time.monotonic() < next_look:
            continue
        next_look = time.monotonic() + every_s
        try:
            lines = watch.changes()
        except Exception:  # a look that fails must not stop the services it reports on
            continue
        for line in lines:
            console.print(line, highlight=False)


def _cancel_runs(settings: Settings, wait_s: float = RUNS_STOP_S) -> None:
    """Cancel the deployment's queued and running runs while its code server can still stop
    them, so they end CANCELED rather than failed by a killed worker or left QUEUED; a run
    still going after `wait_s` seconds is marked canceled and stops with its service."""
    from market_spine.home import existing_instance
    from market_spine.runs.workers import cancel_active_runs

    try:
        found = existing_instance(settings)
        if found is None:
            return
        with found as instance:
            cancelled = cancel_active_runs(instance, wait_s)
    except Exception as exc:  # stopping must go on whatever the instance says
        console.print(f"[yellow]could not cancel the runs in flight: {exc}[/]")
        return
    if cancelled:
        console.print(f"cancelled {len(cancelled)} queued or running run(s); re-execute them later")


def _start_services(
    settings: Settings,
) -> tuple[list[subprocess.Popen], list[threading.Thread]]:
    """`dagster dev` (webserver, daemon, code server) and the API, each leading its own process
    group, so stopping a group also stops what that service spawned; and the thread copying the
    Dagster services' output to the home's service log (`service_log`), echoing their errors."""
    from market_spine.cli.service_log import service_log_path

    env = service_env(settings)
    bin_dir = Path(sys.executable).parent
    ui = ui_command(settings)
    api = [str(bin_dir / "market-spine"), "api", "--log-level", "warning"]
    dagster, pump = start_logged(ui, settings.home, env, service_log_path(settings.home))
    server = subprocess.Popen(api, cwd=settings.home, env=env, start_new_session=True)
    return [dagster, server], [pump]


def service_env(settings: Settings) -> dict[str, str]:
    """The services' environment: this one, the home's Dagster instance, unbuffered Python
    output, so a line a service prints is in the service log even if it is killed right after
    (a stop that outlasts the grace period), and the UI's path prefix (the webserver reads
    DAGSTER_WEBSERVER_* for its options), so the API's proxy serves it as it is."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(settings.dagster_home),
        "MARKET_SPINE_HOME": str(settings.home),
        "PYTHONUNBUFFERED": "1",
        "DAGSTER_WEBSERVER_PATH_PREFIX": UI_PATH_PREFIX,
    }


def start_logged(
    command: list[str], cwd: Path, env: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen, threading.Thread]:
    """Start `command` leading its own process group, its stdout and stderr merged and copied
    to `log_path` (`service_log.pump`, echoing its errors); the process and the copying thread."""
    from market_spine.cli.service_log import pump

    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = cast("IO[bytes]", process.stdout)  # a pipe: stdout=PIPE above
    return process, pump(output, log_path, _echo_error)


def ui_command(settings: Settings) -> list[str]:
    """The `dagster dev` command line of the home: the UI on loopback at `ui_port`."""
    bin_dir = Path(sys.executable).parent
    from market_spine.config.profiles import workspace_file

    ui = [str(bin_dir / "dagster"), "dev", "-w", str(workspace_file(settings.profile))]
    ui += ["-h", UI_HOST, "-p", str(settings.ui_port)]
    # The services' own INFO lines (a daemon tick a minute, an access line a request) would bury
    # what matters on this console; the UI keeps every run's and tick's log.
    return [*ui, "--log-level", "warning"]


def _echo_error(line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)


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
            console.print(
                "[bold red]a service exited during start-up[/]: its errors are above, its whole "
                "output in the home's logs/dagster.log"
            )
            return False
        try:
            # Our own children's liveness, on this machine: the API's certificate names the
            # host clients use, not the address polled here.
            httpx.get(pending[0], timeout=2, verify=False).raise_for_status()
            pending.pop(0)
        except httpx.HTTPError:
            stop.wait(1)
    return not pending


def _shutdown(children: list[subprocess.Popen], grace_s: float = SERVICES_STOP_S) -> None:
    """Ask each service's process group to stop (SIGINT: dagster dev's graceful stop), wait up
    to `grace_s` seconds for every process of the groups to exit, then kill what is left."""
    for child in children:
        _signal_group(child, signal.SIGINT)
    deadline = time.monotonic() + grace_s
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
