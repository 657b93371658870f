"""`status` calls its home's API safely: the admin key goes only to a listener that names this
home on `/healthz`, and over HTTPS (checked against the home's own certificate) when the home
serves TLS."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from market_spine.api.app import create_app
from market_spine.api.tls import tls_options
from market_spine.cli.home_api import HomeApiUnverified, home_api_client
from market_spine.cli.status import from_api
from market_spine.security.bootstrap import ensure_admin_key, home_id, served_home
from market_spine.settings import Settings
from market_spine_tests.kit.api import serving_port
from market_spine_tests.kit.homes import settings_for


class _Listener(BaseHTTPRequestHandler):
    """Whatever else might listen on the API port: answers every GET with a 200 and a JSON
    body, and keeps the headers it was sent."""

    seen: list[dict[str, str]]
    body = b'{"status": "ok", "home": "0000000000000000"}'

    def do_GET(self) -> None:
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _listening(body: bytes) -> Iterator[tuple[int, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Listener,), {"seen": seen, "body": body})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "body",
    [b'{"status": "ok"}', b'{"status": "ok", "home": "0000000000000000"}', b"not json"],
)
def test_a_listener_that_is_not_the_homes_api_never_gets_the_key(
    tmp_path: Path, body: bytes
) -> None:
    home = tmp_path / "home"
    ensure_admin_key(home)
    with _listening(body) as (port, seen):
        settings = replace(settings_for(home), api_port=port)
        assert from_api(settings, verify=False) is None
    assert seen, "status did not ask the listener who it is"
    assert all("authorization" not in headers for headers in seen), seen
    assert [h for h in seen if "authorization" in h] == []


def test_the_key_goes_to_the_listener_naming_this_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ensure_admin_key(home)
    body = b'{"status": "ok", "home": "%s"}' % served_home(home).encode()
    with _listening(body) as (port, seen):
        client = home_api_client(replace(settings_for(home), api_port=port), 5)
        assert client is not None
        client.get("/v1/status")
        client.close()
    assert "authorization" not in seen[0] and seen[1]["authorization"].startswith("Bearer ")


def test_a_copy_of_the_home_never_takes_the_originals_api_for_its_own(tmp_path: Path) -> None:
    """A copied home keeps its id, but not its place: the original's API is not the copy's,
    so a report about the copy is computed for the copy, and its key goes nowhere."""
    home = tmp_path / "home"
    ensure_admin_key(home)
    home_id(home)  # made before the copy, as a home that ever served has it
    copy = tmp_path / "copy"
    shutil.copytree(home, copy)
    assert home_id(copy) == home_id(home) and served_home(copy) != served_home(home)
    body = b'{"status": "ok", "home": "%s"}' % served_home(home).encode()
    with _listening(body) as (port, seen):
        assert home_api_client(replace(settings_for(copy), api_port=port), 5) is None
    assert all("authorization" not in headers for headers in seen), seen


def test_the_home_id_is_random_private_and_stable(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert home_id(one) == home_id(one) != home_id(two)
    assert len(home_id(one)) == 16
    assert (one / "secrets" / "home.id").stat().st_mode & 0o077 == 0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _pem(ca: trustme.CA, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = folder / "cert.pem", folder / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)
    return cert, key


@contextmanager
def _serving_tls(settings: Settings, served: Settings) -> Iterator[int]:
    """The API of `settings`' home served over TLS with `served`'s certificate and key."""
    with serving_port(create_app(settings), **tls_options(served)) as port:
        yield port


def test_status_uses_https_to_a_tls_api_at_once(tmp_path: Path, ca: trustme.CA) -> None:
    home = tmp_path / "home"
    ensure_admin_key(home)
    cert, key = _pem(ca, tmp_path / "tls")
    settings = replace(settings_for(home), tls_cert=cert, tls_key=key)
    with _serving_tls(settings, settings) as port:
        started = time.monotonic()
        report = from_api(replace(settings, api_port=port), verify=False)
        took = time.monotonic() - started
    assert report is not None and took < 5, took


def test_a_certificate_that_is_not_the_homes_is_refused_and_said(
    tmp_path: Path, ca: trustme.CA, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    ensure_admin_key(home)
    ours = _pem(ca, tmp_path / "ours")
    other = _pem(trustme.CA(), tmp_path / "other")
    settings = replace(settings_for(home), tls_cert=ours[0], tls_key=ours[1])
    impostor = replace(settings, tls_cert=other[0], tls_key=other[1])
    with _serving_tls(settings, impostor) as port:
        at = replace(settings, api_port=port)
        with pytest.raises(HomeApiUnverified, match="does not verify"):
            home_api_client(at, 5)
        assert from_api(at, verify=False) is None
    assert "MARKET_SPINE_TLS_CERT" in capsys.readouterr().err
