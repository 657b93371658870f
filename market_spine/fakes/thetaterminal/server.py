"""Run the fake on loopback from tests and scripts: `with FakeThetaTerminal(cfg) as t:`."""

from __future__ import annotations

import base64
import socket
import threading
import time
from typing import Any

import uvicorn

from market_spine.fakes.thetaterminal.app import create_app
from market_spine.fakes.thetaterminal.config import FakeThetaConfig


class FakeThetaTerminal:
    """Runs the fake on 127.0.0.1 in a background thread: `with FakeThetaTerminal(cfg) as t:`
    then point a client at `t.url`."""

    def __init__(
        self,
        config: FakeThetaConfig | None = None,
        port: int = 0,
        *,
        tls: tuple[str, str] | None = None,
        credentials: str | None = None,
    ) -> None:
        """`tls` (certificate chain, key: PEM files) serves HTTPS; `credentials`
        (`user:password`) answers 401 to a request without that basic auth."""
        self.app = create_app(config)
        self.authorized: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port = self._sock.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/v3"
        served: Any = self.app
        if credentials is not None:
            served = _BasicAuth(self.app, credentials, self.authorized)
        uv_config = uvicorn.Config(
            served,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
            http="h11",
            lifespan="off",
            log_level="critical",
            access_log=False,
            # Keep the backlog deep: the fake's own queue, not the kernel's, must answer 429s.
            backlog=512,
        )
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def stats(self) -> dict[str, Any]:
        """The app's counters (see `FakeThetaApp.stats`)."""
        return self.app.stats()

    def __enter__(self) -> FakeThetaTerminal:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake ThetaTerminal did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


class _BasicAuth:
    """Refuses (401) a request whose basic auth is not `user:password`; records each user let
    in, so a test can see the credentials arrived."""

    def __init__(self, app: Any, credentials: str, authorized: list[str]) -> None:
        self.app = app
        self.expected = "Basic " + base64.b64encode(credentials.encode()).decode()
        self.user = credentials.partition(":")[0]
        self.authorized = authorized

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers", [])).get(b"authorization", b"").decode()
            if given != self.expected:
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
            self.authorized.append(self.user)
        await self.app(scope, receive, send)
