"""Verified keys are kept briefly so the key derivation is not paid per request, and a key
revoked by another process stops working once that time is over."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from market_spine.security import keys
from market_spine.security.credentials import CACHE_TTL_S, Authenticator, Refused
from market_spine.security.keys import KeyStore


def test_a_verified_key_is_checked_once_per_period(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = KeyStore(home).create("reader")
    calls = []
    hasher = keys.HASHER

    class Counting:
        def verify(self, stored: str, secret: str) -> bool:
            calls.append(1)
            return hasher.verify(stored, secret)

    monkeypatch.setattr(keys, "HASHER", Counting())
    auth = Authenticator(KeyStore(home))
    assert auth.cached(issued.token) is None
    for _ in range(50):
        assert auth.verify(issued.token).actor == f"key:{issued.record.id}"
    assert len(calls) == 1 and auth.cached(issued.token) is not None
    assert CACHE_TTL_S <= 10


def test_revocation_by_another_process_applies_within_the_cache_period(home: Path) -> None:
    issued = KeyStore(home).create("reader")
    auth = Authenticator(KeyStore(home), ttl_s=0.3)
    auth.verify(issued.token)
    KeyStore(home).revoke(issued.record.id)  # as `market-spine keys revoke` does
    auth.verify(issued.token)  # still within the period
    time.sleep(0.35)
    with pytest.raises(Refused, match="revoked"):
        auth.verify(issued.token)


def test_forgetting_a_key_applies_at_once(home: Path) -> None:
    issued = KeyStore(home).create("reader")
    auth = Authenticator(KeyStore(home))
    auth.verify(issued.token)
    KeyStore(home).revoke(issued.record.id)
    auth.forget(issued.record.id)
    with pytest.raises(Refused, match="revoked"):
        auth.verify(issued.token)


def test_a_token_that_is_no_key_needs_an_issuer(home: Path) -> None:
    with pytest.raises(Refused, match="no OIDC issuer"):
        Authenticator(KeyStore(home)).verify("eyJhbGciOiJSUzI1NiJ9.e30.sig")
