"""The API served for real on loopback: uvicorn in a background thread on an OS-picked port,
with a client holding an admin key of the served home (authentication stays on, as shipped)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from market_spine.api.app import create_app
from market_spine.api.server import server_config
from market_spine.security.keys import KeyStore
from market_spine_tests.kit.homes import settings_for


def credential(app: FastAPI, role: str = "admin", datasets: tuple[str, ...] = ("*",)) -> str:
    """A new key of `role` in the home `app` serves (no key file is written)."""
    return KeyStore(app.state.settings.home).create(role, datasets, name="test").token


def auth_headers(app: FastAPI, role: str = "admin") -> dict[str, str]:
    """The Authorization header of a new key of `role` in the home `app` serves; {} when the
    app runs with authentication off."""
    if app.state.access.authenticator is None:
        return {}
    return {"Authorization": f"Bearer {credential(app, role)}"}


@contextmanager
def serving(home: Path, **settings: Any) -> Iterator[httpx.Client]:
    """Serve the app of `home` on 127.0.0.1 in a background thread, yield a client of it;
    `settings` override the home's settings (e.g. `api_max_rows=100`)."""
    with serving_app(create_app(replace(settings_for(home), **settings))) as client:
        yield client


@contextmanager
def serving_port(app: FastAPI, **options: Any) -> Iterator[int]:
    """Serve `app` on 127.0.0.1 in a background thread under its settings' limits, with the
    uvicorn `options` given (TLS ones, say); yield the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = server_config(app, app.state.settings, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serving_app(app: FastAPI, role: str | None = "admin") -> Iterator[httpx.Client]:
    """Serve `app` on 127.0.0.1 in a background thread, yield a client of it (its `base_url`
    names the port, for WebSocket clients) sending a key of `role` (None: no credential)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # port 0: the OS picks a free port, and we keep the socket
    port = sock.getsockname()[1]
    config = server_config(app, app.state.settings, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        headers = {} if role is None else auth_headers(app, role)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
