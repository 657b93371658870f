"""`status` looks for the UI and the API where `market-spine up` serves them: the same ports
(the settings' defaults, one place), and loopback when the API binds every interface, probed
against real servers on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from market_spine.cli.platform import ui_command
from market_spine.operations.status import collect_status
from market_spine.settings import DEFAULT_API_PORT, DEFAULT_UI_PORT, Settings
from market_spine_tests.kit.homes import settings_for


class _Answers(BaseHTTPRequestHandler):
    """A service that answers 200 on `path` and 404 elsewhere."""

    path_answered = "/"

    def do_GET(self) -> None:
        self.send_response(200 if self.path == self.path_answered else 404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serving(path: str) -> Iterator[int]:
    handler = type("Handler", (_Answers,), {"path_answered": path})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_default_ports_are_the_ones_up_serves_on(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert (settings.api_port, settings.ui_port) == (DEFAULT_API_PORT, DEFAULT_UI_PORT)
    built = Settings(home=tmp_path)
    assert (built.api_port, built.ui_port) == (DEFAULT_API_PORT, DEFAULT_UI_PORT)
    served = ui_command(settings)
    assert served[served.index("-p") + 1] == str(settings.ui_port)
    assert settings.ui_local_url == f"http://127.0.0.1:{DEFAULT_UI_PORT}/dagster"
    assert settings.api_local_url == f"http://127.0.0.1:{DEFAULT_API_PORT}"


@pytest.mark.parametrize("bind", ["0.0.0.0", "::"])
def test_a_wildcard_bind_is_probed_on_loopback(tmp_path: Path, bind: str) -> None:
    with _serving("/dagster/server_info") as ui_port, _serving("/healthz") as api_port:
        settings = replace(settings_for(tmp_path), api_host=bind, api_port=api_port)
        settings = replace(settings, ui_port=ui_port)
        report = collect_status(settings, None, verify=False)
    health = {h.name: h for h in report.health}
    assert health["webserver"].ok, health["webserver"].detail
    assert health["api"].ok, health["api"].detail
    assert health["api"].detail == f"http://127.0.0.1:{api_port}/healthz answers"
    assert health["webserver"].detail == (f"http://127.0.0.1:{ui_port}/dagster/server_info answers")


def test_a_service_not_up_is_red_with_its_address(tmp_path: Path) -> None:
    with _serving("/healthz") as free_port:
        pass  # the port is free again: nothing answers there
    settings = replace(settings_for(tmp_path), api_host="0.0.0.0", api_port=free_port)
    report = collect_status(settings, None, verify=False)
    api = next(h for h in report.health if h.name == "api")
    assert not api.ok
    assert api.detail.startswith(f"http://127.0.0.1:{free_port}/healthz does not answer")
