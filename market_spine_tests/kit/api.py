"""The API served for real on loopback: uvicorn in a background thread on an OS-picked port."""

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
from market_spine_tests.kit.homes import settings_for


@contextmanager
def serving(home: Path, **settings: Any) -> Iterator[httpx.Client]:
    """Serve the app of `home` on 127.0.0.1 in a background thread, yield a client of it;
    `settings` override the home's settings (e.g. `api_max_rows=100`)."""
    with serving_app(create_app(replace(settings_for(home), **settings))) as client:
        yield client


@contextmanager
def serving_app(app: FastAPI) -> Iterator[httpx.Client]:
    """Serve `app` on 127.0.0.1 in a background thread, yield a client of it (its `base_url`
    names the port, for WebSocket clients)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # port 0: the OS picks a free port, and we keep the socket
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
