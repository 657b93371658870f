"""Bearer JWTs from an OIDC issuer: the signature checked against the issuer's JWKS (fetched
with PyJWT's `PyJWKClient`, kept in memory, fetched again at most once per cool-down when a
token names an unknown key id), then issuer, audience and expiry; the role and the dataset scope
come from claims whose names the settings give."""

from __future__ import annotations

import json
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientError, PyJWTError

from market_spine.security.identity import ALL_DATASETS, Identity
from market_spine.security.roles import ROLES, highest
from market_spine.security.tenants import TENANT_RULE, tenant_problem

#: Asymmetric algorithms only: a symmetric one would let anyone holding the public key sign.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
#: Seconds the JWKS is kept before it is fetched again.
JWKS_LIFESPAN_S = 300.0
FETCH_TIMEOUT_S = 5.0


class TokenRefused(Exception):
    """A bearer JWT is not accepted; `status` is 401 (not valid) or 403 (valid, but no role)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OidcConfig:
    """The issuer whose tokens are accepted, the audience they must name, where its JWKS is
    (None: from the issuer's discovery document) and the claims holding role and datasets."""

    issuer: str
    audience: str
    jwks_url: str | None = None
    role_claim: str = "roles"
    datasets_claim: str = "datasets"


class JwtVerifier:
    """Checks bearer JWTs of one issuer; thread-safe (the JWKS client holds its own lock)."""

    def __init__(self, config: OidcConfig, cooldown_s: float = 30.0) -> None:
        self.config = config
        self._cooldown_s = cooldown_s
        self._client: PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks(self) -> PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self.config.jwks_url or _discover_jwks(self.config.issuer)
                self._client = PyJWKClient(
                    url,
                    lifespan=JWKS_LIFESPAN_S,
                    timeout=FETCH_TIMEOUT_S,
                    cooldown_duration=self._cooldown_s,
                )
            return self._client

    def check(self, token: str) -> Identity:
        """The identity of a valid token; TokenRefused saying what is wrong otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            raise TokenRefused("the bearer token is neither an API key nor a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenRefused(f"JWT algorithm {header.get('alg')!r} is not accepted")
        try:
            key = self._jwks().get_signing_key_from_jwt(token)
        except PyJWKClientError as exc:
            raise TokenRefused(f"the JWT's signing key is unknown to the issuer: {exc}") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.config.audience,
                issuer=self.config.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=30,
            )
        except PyJWTError as exc:
            raise TokenRefused(f"the JWT is not valid: {exc}") from None
        return self.identity(claims)

    def identity(self, claims: dict[str, Any]) -> Identity:
        """The identity verified `claims` carry: the strongest known role of the role claim (a
        string or a list), the dataset patterns of the datasets claim (absent: all), the tenant
        of a `tenant` claim (absent: every tenant; TokenRefused when it names none) and clear
        personal data only with a `pii` claim that is true."""
        raw_role = claims.get(self.config.role_claim)
        roles = [raw_role] if isinstance(raw_role, str) else list(raw_role or [])
        role = highest(roles)
        if role is None:
            raise TokenRefused(
                f"the JWT's {self.config.role_claim!r} claim names no role of {', '.join(ROLES)}",
                403,
            )
        raw = claims.get(self.config.datasets_claim)
        if isinstance(raw, str):
            raw = raw.split(",")
        datasets = tuple(str(d).strip() for d in raw or () if str(d).strip()) or ALL_DATASETS
        tenant = claims.get("tenant")
        if "tenant" in claims and not (
            isinstance(tenant, str) and tenant.strip() and tenant_problem(tenant) is None
        ):
            # A token naming its tenant badly must not read every tenant's rows.
            raise TokenRefused(
                f"the JWT's 'tenant' claim is {tenant!r}: it must name one tenant (a string; "
                f"{TENANT_RULE}) or be left out for every tenant",
                403,
            )
        return Identity(
            f"jwt:{claims['sub']}",
            role,
            datasets,
            "jwt",
            tenant,
            claims.get("pii") is True,
        )


def _discover_jwks(issuer: str) -> str:
    """The `jwks_uri` of the issuer's OIDC discovery document."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as answer:
            found = json.load(answer).get("jwks_uri")
    except (OSError, ValueError) as exc:
        message = f"the issuer's discovery document {url} could not be read: {exc}"
        raise TokenRefused(message) from None
    if not isinstance(found, str):
        raise TokenRefused(f"the issuer's discovery document {url} names no jwks_uri")
    return found
