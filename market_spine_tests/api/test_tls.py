"""TLS: the API serves HTTPS and WSS with the configured certificate and key (made here by
trustme), and an `https://` ThetaTerminal is reached with a CA bundle setting."""

from __future__ import annotations

import ssl
from datetime import date
from pathlib import Path

import httpx
import pytest
import trustme
from websockets.sync.client import connect

from market_spine.api.app import create_app
from market_spine.api.tls import tls_options
from market_spine.errors import SpineError
from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal
from market_spine.operations.status import probe_http
from market_spine.providers.thetadata import ThetaDataClient
from market_spine.settings import Settings
from market_spine_tests.kit.api import serving_port


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pem(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"cert": folder / "cert.pem", "key": folder / "key.pem", "ca": folder / "ca.pem"}
    cert.private_key_pem.write_to_path(str(paths["key"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    ca.cert_pem.write_to_path(str(paths["ca"]))
    paths["key"].chmod(0o600)
    return paths


def test_the_api_serves_https_and_wss(home: Path, pem: dict[str, Path]) -> None:
    settings = Settings.from_env(
        {
            "MARKET_SPINE_HOME": str(home),
            "MARKET_SPINE_TLS_CERT": str(pem["cert"]),
            "MARKET_SPINE_TLS_KEY": str(pem["key"]),
        }
    )
    options = tls_options(settings)
    assert options == {"ssl_certfile": str(pem["cert"]), "ssl_keyfile": str(pem["key"])}
    trusted = ssl.create_default_context(cafile=str(pem["ca"]))
    with serving_port(create_app(settings), **options) as port:
        answer = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trusted)
        assert answer.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/healthz")  # an unknown CA is refused
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{port}/healthz")  # no plain HTTP on the TLS port
        assert probe_http("api", f"https://127.0.0.1:{port}/healthz", "").ok
        assert not probe_http("api", f"http://127.0.0.1:{port}/healthz", "").ok
        # The handshake's own 10 s default is short on a 2-core machine running the suite.
        stream = f"wss://127.0.0.1:{port}/v1/stream/bars?symbols=CL"
        with connect(stream, ssl=trusted, open_timeout=60) as ws:
            assert "error" in ws.recv(timeout=10)  # subscribed over TLS; no streamer running


def test_tls_needs_both_the_certificate_and_the_key(home: Path, pem: dict[str, Path]) -> None:
    env = {"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_TLS_CERT": str(pem["cert"])}
    with pytest.raises(ValueError, match="MARKET_SPINE_TLS_KEY go together"):
        Settings.from_env(env)


def test_an_https_terminal_with_a_ca_bundle(pem: dict[str, Path]) -> None:
    config = FakeThetaConfig(today=date(2024, 3, 5))
    tls = (str(pem["cert"]), str(pem["key"]))
    with FakeThetaTerminal(config, tls=tls, credentials="trader:pw") as terminal:
        assert terminal.url.startswith("https://")
        url = terminal.url.replace("https://", "https://trader:pw@")
        with ThetaDataClient(base_url=url, ca_bundle=str(pem["ca"])) as client:
            assert client.base_url == terminal.url  # the credential is not in the URL it shows
            assert date(2024, 3, 8) in client.expirations("SPXW")
        assert terminal.authorized == ["trader"]
        untrusted = ThetaDataClient(base_url=url, max_attempts=1, max_retry_seconds=1)
        with untrusted, pytest.raises(SpineError) as caught:
            untrusted.expirations("SPXW")
        assert "CERTIFICATE_VERIFY_FAILED" in repr(caught.value.__cause__) + str(caught.value)
        assert "pw@" not in str(caught.value)


def test_a_private_key_others_may_read_is_warned_about_and_refused_under_prod(
    home: Path, pem: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared-key.pem"
    shared.write_bytes(pem["key"].read_bytes())
    shared.chmod(0o640)
    env = {
        "MARKET_SPINE_HOME": str(home),
        "MARKET_SPINE_TLS_CERT": str(pem["cert"]),
        "MARKET_SPINE_TLS_KEY": str(shared),
    }
    with caplog.at_level("WARNING", logger="market_spine.api"):
        assert tls_options(Settings.from_env(env))["ssl_keyfile"] == str(shared)
    assert "mode 0640" in caplog.text and f"chmod 600 {shared}" in caplog.text
    with pytest.raises(SpineError, match="other users of this machine may read it"):
        tls_options(Settings.from_env({**env, "MARKET_SPINE_PROFILE": "prod"}))
    caplog.clear()
    with caplog.at_level("WARNING", logger="market_spine.api"):
        tls_options(Settings.from_env({**env, "MARKET_SPINE_TLS_KEY": str(pem["key"])}))
    assert "TLS private key" not in caplog.text
