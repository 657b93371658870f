"""The key personal data is hashed with: made on first use in the home (0600) and kept, or
given by the `pii_hash_key` setting so replicas hash alike; a known value cannot be confirmed
by hashing it without the key."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import polars as pl
import pytest

from market_spine.company.masking import digest, masked
from market_spine.errors import InvalidInput
from market_spine.security import pii_hash_key as module
from market_spine.security.pii_hash_key import key_path, pii_hash_key


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "_cache", {})
    monkeypatch.delenv("MARKET_SPINE_PII_HASH_KEY", raising=False)


def test_a_home_makes_its_key_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    key = pii_hash_key(home)
    assert len(key) == 32
    assert stat.S_IMODE(key_path(home).stat().st_mode) == 0o600
    module._cache.clear()  # another process of the same home
    assert pii_hash_key(home) == key
    other = tmp_path / "other"
    other.mkdir()
    assert pii_hash_key(other) != key


def test_masked_values_join_within_a_home_but_cannot_be_confirmed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    key = pii_hash_key(home)
    frame = pl.DataFrame({"email": ["ada@acme.example", "ada@acme.example", None]})
    hashed = masked(frame, {"email": "hash"}, key)["email"].to_list()
    assert hashed[0] == hashed[1] and hashed[2] is None
    assert hashed[0] != hashlib.sha256(b"ada@acme.example").hexdigest()
    assert hashed[0] == hmac.new(key, b"ada@acme.example", hashlib.sha256).hexdigest()


def test_the_setting_gives_replicas_one_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = "0123456789abcdef0123456789abcdef-shared"
    secret = tmp_path / "pii.key"
    secret.write_text(shared + "\n")
    monkeypatch.setenv("MARKET_SPINE_PII_HASH_KEY_FILE", str(secret))
    homes = [tmp_path / "replica1", tmp_path / "replica2"]
    for home in homes:
        home.mkdir()
    keys = [pii_hash_key(home) for home in homes]
    assert keys == [shared.encode(), shared.encode()]
    assert not key_path(homes[0]).exists()
    assert digest("a@b.example", keys[0]) == digest("a@b.example", keys[1])

    module._cache.clear()
    monkeypatch.delenv("MARKET_SPINE_PII_HASH_KEY_FILE")
    monkeypatch.setenv("MARKET_SPINE_PII_HASH_KEY", "short")
    with pytest.raises(InvalidInput, match="at least 32"):
        pii_hash_key(homes[0])
