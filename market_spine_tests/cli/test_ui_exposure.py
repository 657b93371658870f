"""The Dagster UI is never reachable unauthenticated: `up` binds it to loopback whatever the
API's host, the image publishes only the API and runs as a non-root user, and a GraphQL
`deleteRun` without credentials is refused through every entry point that is not loopback."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from market_spine.api.app import create_app
from market_spine.cli.platform import service_env, ui_command
from market_spine.security.keys import KeyStore
from market_spine.settings import UI_HOST, Settings
from market_spine_tests.kit.api import serving_app
from market_spine_tests.kit.homes import REPO, settings_for

DELETE_RUN = {
    "query": "mutation($id: String!) { deleteRun(runId: $id) { __typename } }",
    "variables": {"id": "00000000-0000-0000-0000-000000000000"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def test_the_ui_binds_loopback_whatever_the_api_host(home: Path) -> None:
    settings = Settings.from_env(
        {"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_API_HOST": "0.0.0.0"}
    )
    command = ui_command(settings)
    assert command[command.index("-h") + 1] == UI_HOST == "127.0.0.1"


def test_the_image_publishes_only_the_api_and_runs_unprivileged() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    instructions = [line for line in dockerfile.splitlines() if not line.startswith("#")]
    exposed = [p for line in instructions if line.startswith("EXPOSE") for p in line.split()[1:]]
    assert exposed == ["8000"]
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert not re.search(r"UI_HOST|dagster\S* .*-h 0\.0\.0\.0", dockerfile)


def test_the_api_serves_no_dagster_graphql_without_an_identity(home: Path) -> None:
    client = TestClient(create_app(settings_for(home)))
    for path in ("/graphql", "/v1/graphql"):
        answer = client.post(path, json=DELETE_RUN)
        assert answer.status_code in (404, 405), (path, answer.status_code)
    assert client.post("/dagster/graphql", json=DELETE_RUN).status_code == 401


@pytest.mark.slow
def test_delete_run_is_refused_off_loopback_and_unauthenticated_through_the_api(
    tmp_path: Path,
) -> None:
    address = outward_address()
    assert address is not None, "this machine has no address but loopback to test from"
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = {**os.environ, "MARKET_SPINE_HOME": str(home)}
    env |= {"MARKET_SPINE_API_HOST": "0.0.0.0", "MARKET_SPINE_UI_PORT": str(port)}
    settings = Settings.from_env(env)
    env = service_env(settings)
    from market_spine.home import prepare_home

    prepare_home(settings)
    log = (tmp_path / "ui.log").open("w+")
    ui = subprocess.Popen(
        ui_command(settings), cwd=home, env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 240
        up = False
        while time.monotonic() < deadline and ui.poll() is None and not up:
            try:
                info = f"http://127.0.0.1:{port}/dagster/server_info"
                up = httpx.get(info, timeout=2).is_success
            except httpx.HTTPError:
                time.sleep(1)
        log.seek(0)
        assert up, log.read()[-3000:]
        for path in ("/graphql", "/dagster/graphql"):
            with pytest.raises(httpx.ConnectError):
                httpx.post(f"http://{address}:{port}{path}", json=DELETE_RUN, timeout=5)
        app = create_app(settings)
        with serving_app(app, role=None) as api:
            refused = api.post("/dagster/graphql", json=DELETE_RUN)
            assert refused.status_code == 401
            keys = KeyStore(settings.home)
            reader = {"Authorization": f"Bearer {keys.create('reader').token}"}
            assert api.get("/dagster/runs", headers=reader).status_code == 403
            compliance = {"Authorization": f"Bearer {keys.create('compliance').token}"}
            deleting = api.post("/dagster/graphql", json=DELETE_RUN, headers=compliance)
            assert deleting.status_code == 403
            runs = {"query": "{ runsOrError { __typename } }"}
            listed = api.post("/dagster/graphql", json=runs, headers=compliance)
            assert listed.json() == {"data": {"runsOrError": {"__typename": "Runs"}}}
            page = api.get("/dagster/runs", headers=compliance)
            assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        os.killpg(ui.pid, signal.SIGINT)
        try:
            ui.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait(10)
