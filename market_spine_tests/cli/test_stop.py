"""Stopping what `market-spine up` started: bounded and said (what it waits for, how long at
most), and the home marked stopped, so `status` says the daemon stopped at once instead of
showing its last heartbeats as beating for minutes."""

from __future__ import annotations

import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._daemon.types import DaemonHeartbeat

from market_spine.cli import platform
from market_spine.home import instance as home_instance
from market_spine.operations.status import daemon_health
from market_spine.runs.deployment import stopped_at
from market_spine_tests.kit.homes import settings_for

#: A service that ignores the polite stop, as a `dagster dev` waiting on a busy webserver does.
STUBBORN = textwrap.dedent(
    """
    import signal, time
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("up", flush=True)
    while True:
        time.sleep(0.1)
    """
)


def _beat(instance: dg.DagsterInstance, at: datetime) -> None:
    for kind in instance.get_required_daemon_types():
        instance.add_daemon_heartbeat(DaemonHeartbeat(at.timestamp(), kind, "test", errors=[]))


def test_a_stop_is_bounded_says_what_it_waits_for_and_marks_the_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path / "home")
    log = tmp_path / "logs" / "dagster.log"
    with home_instance(settings) as instance:
        _beat(instance, datetime.now(UTC) - timedelta(seconds=5))
        assert daemon_health(instance, datetime.now(UTC), stopped_at(settings.dagster_home)).ok
    service, copying = platform.start_logged(
        [sys.executable, "-c", STUBBORN], tmp_path, platform.service_env(settings), log
    )
    time.sleep(1)
    began = time.monotonic()
    platform.stop_deployment(settings, [service], [copying], runs_s=1, services_s=2)
    took = time.monotonic() - began
    assert took < 10, f"the stop took {took:.1f} s"
    said = " ".join(capsys.readouterr().err.split())
    assert "canceling the runs in flight (up to 1 s)" in said
    assert "waiting for the Dagster UI, daemon and API to exit (up to 2 s" in said
    assert "stopped in " in said
    assert service.poll() is not None

    stop = stopped_at(settings.dagster_home)
    assert stop is not None
    with home_instance(settings) as instance:
        # Its last beats are seconds old, yet the daemon is stopped: the mark is newer.
        health = daemon_health(instance, datetime.now(UTC), stop)
        assert not health.ok and health.detail.startswith("stopped (")
        assert "a clean stop of `market-spine up`" in health.detail
        # Started again: a beat after the mark is a running daemon.
        _beat(instance, datetime.now(UTC) + timedelta(seconds=1))
        assert daemon_health(instance, datetime.now(UTC) + timedelta(seconds=2), stop).ok
