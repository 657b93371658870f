"""Real receivers on loopback for the alert sinks: an HTTP server recording JSON POSTs (it can
answer 500 to the first requests, as a receiver that is down and then recovers), and an SMTP
server (aiosmtpd) recording mail, optionally requiring STARTTLS with a self-signed certificate."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class HttpReceiver:
    """What the HTTP receiver got: each request's path, headers and JSON body."""

    url: str
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        """The JSON bodies accepted (answered 200), optionally only those POSTed to `path`."""
        return [r["body"] for r in self.requests if path is None or r["path"] == path]


@contextmanager
def http_receiver(fail_first: int = 0) -> Iterator[HttpReceiver]:
    """An HTTP server on 127.0.0.1 recording every POST; the first `fail_first` get a 500."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                if got.refused < got.fail_first:
                    got.refused += 1
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"down for maintenance")
                    return
                got.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got = HttpReceiver(f"http://127.0.0.1:{server.server_address[1]}", fail_first)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpReceiver:
    """What the SMTP server got: each message with its envelope."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    cert: Path | None = None
    #: Recipients the server refuses (550), as a server without such a mailbox would.
    refuse: tuple[str, ...] = ()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    command += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
    )
    return cert, key


@contextmanager
def smtp_receiver(
    tls_folder: Path | None = None, refuse: tuple[str, ...] = ()
) -> Iterator[SmtpReceiver]:
    """An SMTP server on 127.0.0.1 refusing the recipients `refuse`; with `tls_folder` it offers
    and requires STARTTLS with a self-signed certificate written there (`SmtpReceiver.cert`)."""
    got = SmtpReceiver("127.0.0.1", free_port(), refuse=refuse)
    options: dict[str, Any] = {}
    if tls_folder is not None:
        cert, key = self_signed(tls_folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options = {"tls_context": context, "require_starttls": True}
        got.cert = cert
    controller = Controller(got, hostname=got.host, port=got.port, **options)
    controller.start()
    try:
        yield got
    finally:
        controller.stop()


@contextmanager
def alerting_home(home: Path, rules: str) -> Iterator[HttpReceiver]:
    """An HTTP receiver, and `home` made with an `alerts.toml` of `rules` (a template whose
    `{url}` is the receiver's) routing alerts to it."""
    with http_receiver() as got:
        home.mkdir()
        (home / "alerts.toml").write_text(rules.format(url=got.url))
        yield got
