"""`market-spine up` (what `make run` starts): loads recent sessions, serves the Dagster UI and the
API with data in them, and stops cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
# The test's own loading deadline is 480 s; the suite's default timeout would cut it first.
@pytest.mark.timeout(600)
def test_up_serves_ui_and_api_with_data_then_stops(tmp_path: Path) -> None:
    ui, api = free_port(), free_port()
    env = {
        **os.environ,
        "MARKET_SPINE_HOME": str(tmp_path / "home"),
        "MARKET_SPINE_UI_PORT": str(ui),
        "MARKET_SPINE_API_PORT": str(api),
        "MARKET_SPINE_SYMBOLS": "CL",
    }
    exe = Path(sys.executable).parent / "market-spine"
    log = (tmp_path / "up.log").open("w+")
    proc = subprocess.Popen([str(exe), "up", "--days", "1"], env=env, stdout=log, stderr=log)
    try:
        # Loading, then starting the UI and the daemon: minutes on a busy 2-core machine.
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline and proc.poll() is None:
            log.seek(0)
            if "Market Spine is up" in log.read():
                break
            time.sleep(1)
        log.seek(0)
        output = log.read()
        assert "Market Spine is up" in output, output[-3000:]
        assert (
            f"http://127.0.0.1:{ui}/dagster" in output and f"http://127.0.0.1:{api}/docs" in output
        )

        ready = httpx.get(f"http://127.0.0.1:{api}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        # Authentication is on from the first start: the home's admin key is made and its
        # path printed, never the key; the API refuses a call without it.
        key_file = tmp_path / "home" / "secrets" / "admin.key"
        assert str(key_file) in output and "keys create --role reader" in output
        key = key_file.read_text().strip()
        assert key not in output and oct(key_file.stat().st_mode)[-3:] == "600"
        catalog = f"http://127.0.0.1:{api}/v1/catalog"
        assert httpx.get(catalog, timeout=30).status_code == 401
        authed = httpx.get(catalog, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert authed.status_code == 200, authed.text
        runs = httpx.post(
            f"http://127.0.0.1:{ui}/dagster/graphql",
            json={"query": "{ runsOrError { ... on Runs { results { status } } } }"},
            timeout=30,
        ).json()["data"]["runsOrError"]["results"]
        assert runs and all(r["status"] == "SUCCESS" for r in runs)
        # The example company is loaded from its drop folders, with no server.
        # One run per dataset, so each example dataset has its own line.
        for dataset in ("clients", "employees", "orders capture", "orders", "suppliers"):
            assert f"company: {dataset} ok" in output
        orders = httpx.get(
            f"http://127.0.0.1:{api}/v1/datasets/orders",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert orders.status_code == 200 and orders.json()["data"], orders.text
        tables = httpx.get(f"http://127.0.0.1:{api}/openapi.json", timeout=10)
        assert tables.status_code == 200
        assert len(leftovers(env["MARKET_SPINE_HOME"])) >= 3  # the check below can see them
        log.seek(0)
        served = log.read()[len(output) :]
        # The services' routine lines (daemon ticks, access lines) stay off the console.
        assert "/readyz" not in served and " - INFO - " not in served, served[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    time.sleep(1)
    for port in (ui, api):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served"
    assert not leftovers(env["MARKET_SPINE_HOME"]), "services of the home outlived `up`"


def leftovers(home: str) -> list[str]:
    """Processes still running with this home in their environment (webserver, daemon, …)."""
    homes = {home, str(Path(home).resolve())}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("MARKET_SPINE_HOME") in homes:
                found.append(" ".join(proc.info["cmdline"] or [])[:80])
    return found


def test_up_with_no_days_loads_nothing_and_negative_days_are_refused(
    env_home: Path,
) -> None:
    """`--days 0` is a restart of the services on the home as it is; a negative count names
    the option, not an internal variable."""
    from typer.testing import CliRunner

    from market_spine.cli import app

    runner = CliRunner()
    restart = runner.invoke(app, ["up", "--days", "0", "--no-serve"])
    assert restart.exit_code == 0, restart.output
    assert "loading nothing" in restart.output
    refused = runner.invoke(app, ["up", "--days", "-1", "--no-serve"])
    assert refused.exit_code == 2
    said = " ".join(refused.output.replace("│", " ").split())
    assert "Invalid value for '--days'" in said and "greater than or equal to 0" in said
