"""Bearer JWTs checked against a mock OIDC issuer on loopback (discovery document and JWKS
served by a real HTTP server; tokens signed with keys made here)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from market_spine.security.jwt import JwtVerifier, OidcConfig, TokenRefused

AUDIENCE = "market-spine"


@dataclass
class Issuer:
    """A mock OIDC issuer: its URL, the keys it publishes (kid -> private key) and how many
    times its JWKS was fetched."""

    url: str = ""
    keys: dict[str, Any] = field(default_factory=dict)
    fetches: int = 0

    def jwks(self) -> dict[str, Any]:
        found = []
        for kid, private in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
            found.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": found}

    def token(self, kid: str, private: Any = None, **claims: Any) -> str:
        body = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "alice",
            "exp": int(time.time()) + 300,
            "roles": ["quant"],
            **claims,
        }
        return jwt.encode(body, private or self.keys[kid], "RS256", headers={"kid": kid})


def new_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    state = Issuer(keys={"k1": new_key()})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": state.url, "jwks_uri": f"{state.url}/jwks"}
            elif self.path == "/jwks":
                state.fetches += 1
                body = state.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def verifier(issuer: Issuer, cooldown_s: float = 30.0) -> JwtVerifier:
    return JwtVerifier(OidcConfig(issuer.url, AUDIENCE), cooldown_s=cooldown_s)


def test_a_valid_token_gives_its_subject_role_and_datasets(issuer: Issuer) -> None:
    check = verifier(issuer)
    token = issuer.token("k1", roles=["reader", "operator"], datasets=["normalized/*"])
    identity = check.check(token)
    assert (identity.actor, identity.role, identity.method) == ("jwt:alice", "operator", "jwt")
    assert identity.datasets == ("normalized/*",)
    check.check(issuer.token("k1", sub="bob"))
    assert issuer.fetches == 1  # the JWKS is kept between tokens


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": int(time.time()) - 600}, "(?i)expired"),
        ({"aud": "another-api"}, "(?i)audience"),
        ({"iss": "http://127.0.0.1:1"}, "(?i)issuer"),
    ],
)
def test_expired_foreign_and_misaddressed_tokens_are_refused(
    issuer: Issuer, claims: dict[str, Any], why: str
) -> None:
    with pytest.raises(TokenRefused, match=why) as refused:
        verifier(issuer).check(issuer.token("k1", **claims))
    assert refused.value.status == 401


def test_a_token_signed_by_another_key_is_refused(issuer: Issuer) -> None:
    forged = issuer.token("k1", private=new_key(), roles=["admin"])
    with pytest.raises(TokenRefused, match="Signature verification failed"):
        verifier(issuer).check(forged)


def test_a_symmetric_or_unsigned_token_is_refused(issuer: Issuer) -> None:
    secret = "a-secret-anyone-could-guess-0123456789"
    hs = jwt.encode({"sub": "x", "roles": ["admin"]}, secret, "HS256", headers={"kid": "k1"})
    unsigned = jwt.encode({"sub": "x", "roles": ["admin"]}, None, "none")
    for token in (hs, unsigned):
        with pytest.raises(TokenRefused, match="not accepted"):
            verifier(issuer).check(token)


def test_a_rotated_key_is_fetched_once_and_unknown_ones_are_refused(issuer: Issuer) -> None:
    check = verifier(issuer, cooldown_s=0)
    check.check(issuer.token("k1"))
    issuer.keys["k2"] = new_key()  # the issuer rotates: a token names a key not yet fetched
    assert check.check(issuer.token("k2")).actor == "jwt:alice"
    assert issuer.fetches == 2
    stranger = new_key()
    with pytest.raises(TokenRefused, match="signing key is unknown"):
        check.check(issuer.token("k9", private=stranger))
    assert issuer.fetches == 3  # one refetch for the unknown kid, then refused


def test_unknown_kids_refetch_at_most_once_per_cooldown(issuer: Issuer) -> None:
    check = verifier(issuer, cooldown_s=30)
    check.check(issuer.token("k1"))
    for n in range(5):
        with pytest.raises(TokenRefused):
            check.check(issuer.token(f"x{n}", private=new_key()))
    assert issuer.fetches == 1


def test_a_token_without_a_known_role_is_forbidden(issuer: Issuer) -> None:
    with pytest.raises(TokenRefused, match="names no role") as refused:
        verifier(issuer).check(issuer.token("k1", roles=["superuser"]))
    assert refused.value.status == 403


@pytest.mark.parametrize("tenant", ["", "  ", None, ["acme", "globex"], 7, " acme", "ACME"])
def test_a_tenant_claim_naming_no_tenant_is_forbidden(issuer: Issuer, tenant: Any) -> None:
    with pytest.raises(TokenRefused, match="'tenant' claim") as refused:
        verifier(issuer).check(issuer.token("k1", tenant=tenant))
    assert refused.value.status == 403
    assert verifier(issuer).check(issuer.token("k1", tenant="acme")).tenant == "acme"
    assert verifier(issuer).check(issuer.token("k1")).tenant is None


def test_claim_names_come_from_the_settings(issuer: Issuer) -> None:
    config = OidcConfig(issuer.url, AUDIENCE, f"{issuer.url}/jwks", "grp", "scope_ds")
    token = issuer.token("k1", roles=None, grp="compliance", scope_ds="normalized/*,raw/*")
    identity = JwtVerifier(config).check(token)
    assert identity.role == "compliance" and identity.datasets == ("normalized/*", "raw/*")


def test_the_api_takes_the_issuers_tokens_beside_keys(issuer: Issuer, tmp_path: Any) -> None:
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from market_spine.api.app import create_app
    from market_spine_tests.kit.homes import settings_for

    settings = replace(
        settings_for(tmp_path / "home"), oidc_issuer=issuer.url, oidc_audience=AUDIENCE
    )
    with TestClient(create_app(settings)) as http:

        def status(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            return http.get("/v1/stream/status", headers=headers).status_code

        assert status(issuer.token("k1", roles="operator")) == 200
        assert status(issuer.token("k1", roles=["reader"])) == 403
        assert status(issuer.token("k1", roles="operator", aud="other")) == 401
        assert status(issuer.token("k1", roles="superuser")) == 403


def test_a_verified_token_is_kept_for_the_cache_period_never_past_its_expiry(
    issuer: Issuer, tmp_path: Any
) -> None:
    from market_spine.security.credentials import Authenticator
    from market_spine.security.keys import KeyStore

    authenticator = Authenticator(KeyStore(tmp_path / "home"), verifier(issuer), ttl_s=10)
    token = issuer.token("k1", roles="reader")
    identity = authenticator.verify(token)
    assert authenticator.cached(token) == identity
    ending = issuer.token("k1", roles="reader", exp=int(time.time()) + 1)
    authenticator.verify(ending)
    time.sleep(1.5)
    assert authenticator.cached(ending) is None  # its own expiry comes before the period
