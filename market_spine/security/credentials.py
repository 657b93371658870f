"""From a presented bearer token to an identity: API keys (`msk_…`) through the home's key file,
anything else as a JWT of the configured issuer. Verified keys are kept in memory for
`CACHE_TTL_S`, so the key derivation is paid once per key and period rather than per request;
a key revoked or expired in the file stops working within that time."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime

import jwt as pyjwt

from market_spine.security.identity import Identity
from market_spine.security.jwt import JwtVerifier, TokenRefused
from market_spine.security.keys import PREFIX, KeyRefused, KeyStore

#: Seconds a verified key is trusted without reading the key file again: the longest a
#: revocation made by another process (`market-spine keys revoke`) takes to apply.
CACHE_TTL_S = 10.0


class Refused(Exception):
    """The credential is not accepted: `status` 401 (no valid identity) or 403 (an identity
    without any role)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def seconds_left(token: str) -> float:
    """Seconds until a verified JWT's `exp` (0 when it has none readable)."""
    try:
        exp = pyjwt.decode(token, options={"verify_signature": False}).get("exp")
    except pyjwt.PyJWTError:
        return 0.0
    return max(0.0, float(exp) - time.time()) if isinstance(exp, int | float) else 0.0


class Authenticator:
    """Turns bearer tokens into identities for one home (thread-safe)."""

    def __init__(
        self, keys: KeyStore, jwt: JwtVerifier | None = None, ttl_s: float = CACHE_TTL_S
    ) -> None:
        self.keys = keys
        self.jwt = jwt
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        # sha256(token) -> (identity, monotonic deadline): the token itself is never kept.
        self._cache: dict[bytes, tuple[Identity, float]] = {}

    def cached(self, token: str) -> Identity | None:
        """The identity of a key verified less than `ttl_s` ago, else None (cheap: no I/O)."""
        digest = hashlib.sha256(token.encode()).digest()
        found = self._cache.get(digest)
        if found is None:
            return None
        if found[1] <= time.monotonic():
            with self._lock:
                self._cache.pop(digest, None)
            return None
        return found[0]

    def verify(self, token: str) -> Identity:
        """The identity `token` stands for, or Refused; may read the key file, run the key
        derivation or fetch the JWKS, so callers on an event loop run it on a thread."""
        found = self.cached(token)
        if found is not None:
            return found
        if token.startswith(f"{PREFIX}_"):
            try:
                record = self.keys.check(token)
            except KeyRefused as exc:
                raise Refused(str(exc)) from None
            identity = record.identity()
            deadline = time.monotonic() + self.ttl_s
            if record.expires_at is not None:
                left = (record.expires_at - datetime.now(UTC)).total_seconds()
                deadline = min(deadline, time.monotonic() + left)
            with self._lock:
                self._cache[hashlib.sha256(token.encode()).digest()] = (identity, deadline)
            return identity
        if self.jwt is None:
            raise Refused(
                "the bearer token is not an API key (msk_…) and no OIDC issuer is configured"
            )
        try:
            identity = self.jwt.check(token)
        except TokenRefused as exc:
            raise Refused(str(exc), exc.status) from None
        # A verified token is kept like a key (never past its own expiry), so a burst of
        # requests does not queue a signature check each behind the derivation threads.
        deadline = time.monotonic() + min(self.ttl_s, seconds_left(token))
        with self._lock:
            self._cache[hashlib.sha256(token.encode()).digest()] = (identity, deadline)
        return identity

    def forget(self, key_id: str) -> None:
        """Drop every cached identity of a key (revoked in this process: effective at once)."""
        with self._lock:
            for digest, (identity, _) in list(self._cache.items()):
                if identity.actor == f"key:{key_id}":
                    del self._cache[digest]
