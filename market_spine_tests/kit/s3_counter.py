"""A counting reverse proxy for an S3 server, run as `python -m market_spine_tests.kit.s3_counter
UPSTREAM`: prints its endpoint on a line, forwards every request to UPSTREAM, and answers
`GET /__requests__` with the JSON list of the requests forwarded (`METHOD path?query`) and
`GET /__agents__` with the User-Agent each of them carried, in the same order."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_SKIPPED = ("content-length", "transfer-encoding", "connection", "content-encoding")


def serve(upstream: str) -> None:
    """Forward requests to `upstream` until terminated."""
    seen: list[str] = []
    agents: list[str] = []
    lock = threading.Lock()
    client = httpx.Client(base_url=upstream, timeout=60.0)

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _SKIPPED:
                    self.send_header(name, value)
            # A HEAD answers with the object's size and no body: pass the size on, else a
            # reader sizing its files through the proxy sees every file as empty.
            length = next(
                (v for k, v in headers if self.command == "HEAD" and k.lower() == "content-length"),
                str(len(body)),
            )
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _forward(self) -> None:
            if self.path in ("/__requests__", "/__agents__"):
                with lock:
                    body = json.dumps(seen if self.path == "/__requests__" else agents).encode()
                self._answer(200, [("Content-Type", "application/json")], body)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                seen.append(f"{self.command} {self.path}")
                agents.append(self.headers.get("User-Agent", "-"))
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            answer = client.request(self.command, self.path, content=body, headers=headers)
            self._answer(answer.status_code, list(answer.headers.multi_items()), answer.content)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1])
