"""The service log keeps every line a service printed, its last ones included: lines printed
while it stops, lines of a service killed after the grace period, lines after the console
went away."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

from market_spine.cli.platform import service_env, start_logged, stop_services
from market_spine.cli.service_log import pump
from market_spine_tests.kit.homes import settings_for

#: A service like `dagster dev`: its daemon (a child in its process group) prints while it stops
#: and takes a moment to; the leader prints when asked to stop, then hangs until it is killed.
#: Both print with plain `print`, as a library might, never flushing.
SERVICE = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    DAEMON = '''
    import signal, sys, time
    def stop(*_):
        print("daemon: stopping the sensor threads")
        time.sleep(0.5)
        print("daemon: every thread stopped")
        sys.exit(0)
    signal.signal(signal.SIGINT, stop)
    print("daemon: up")
    while True:
        time.sleep(0.1)
    '''
    daemon = subprocess.Popen([sys.executable, "-c", DAEMON])
    signal.signal(signal.SIGINT, lambda *_: print("dev: the webserver did not stop in time"))
    print("dev: up")
    while True:
        time.sleep(0.1)
    """
)


def _wait_for(path: Path, text: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count(text) >= 2:
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} twice never reached {path}")


def test_every_line_a_stopping_service_printed_reaches_the_log(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    log = tmp_path / "logs" / "dagster.log"
    service, copying = start_logged(
        [sys.executable, "-c", SERVICE], tmp_path, service_env(settings), log
    )
    try:
        _wait_for(log, ": up")
    finally:
        stop_services([service], [copying], grace_s=3)
    lines = log.read_text().splitlines()
    assert not copying.is_alive()
    assert "daemon: stopping the sensor threads" in lines
    assert "daemon: every thread stopped" in lines
    # Killed after the grace period: what it printed before is still there.
    assert "dev: the webserver did not stop in time" in lines


def test_a_console_that_went_away_stops_the_echo_never_the_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "dagster.log"
    records = [
        f"2026-11-30 06:00:0{i} +0000 - dagster.daemon - ERROR - failure {i}" for i in range(5)
    ]
    echoed: list[str] = []

    def echo(line: str) -> None:
        echoed.append(line)
        raise OSError(5, "Input/output error")  # the terminal was closed

    r, w = os.pipe()
    read, write = os.fdopen(r, "rb"), os.fdopen(w, "wb")
    copying = pump(read, log, echo)
    for record in records:
        write.write(record.encode() + b"\n")
    write.close()
    copying.join(timeout=10)
    assert log.read_text().splitlines() == records
    assert echoed == records[:1]
