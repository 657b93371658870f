"""API keys: shown once, stored as Argon2id hashes in a file only the owner reads, refused with
a reason once revoked, expired, wrong or malformed."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from market_spine.errors import InvalidInput
from market_spine.security.bootstrap import admin_key_path, admin_token, ensure_admin_key
from market_spine.security.keys import KeyRefused, KeyStore, parse_datasets, parse_expiry
from market_spine_tests.kit.state_db import stored_text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_key_is_its_id_and_a_secret_kept_only_as_a_hash(state_home: Path) -> None:
    store = KeyStore(state_home)
    issued = store.create("quant", ("normalized/*",), name="research")
    prefix, key_id, secret = issued.token.split("_", 2)
    assert (prefix, key_id) == ("msk", issued.record.id) and len(secret) >= 40
    stored = stored_text(store.database)
    assert secret not in stored and "$argon2id$" in stored
    listed = store.list()
    assert [r.id for r in listed] == [key_id] and secret not in repr(listed)
    record = store.check(issued.token)
    assert record.identity().actor == f"key:{key_id}"
    assert record.identity().role == "quant" and record.identity().datasets == ("normalized/*",)
    if store.database.shared:
        assert not store.path.exists()
    else:
        assert _mode(store.path) == 0o600 and _mode(store.path.parent) == 0o700


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("msk_nothex_abc", "malformed"),
        ("Bearer something", "malformed"),
        ("msk_0123456789abcdef_" + "x" * 43, "not valid for this home"),
    ],
)
def test_malformed_and_unknown_keys_are_refused(state_home: Path, token: str, why: str) -> None:
    with pytest.raises(KeyRefused, match=why):
        KeyStore(state_home).check(token)


def test_a_wrong_secret_a_revoked_and_an_expired_key_are_refused(state_home: Path) -> None:
    store = KeyStore(state_home)
    issued = store.create("reader")
    wrong = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    with pytest.raises(KeyRefused) as refused:
        store.check(wrong)
    # The same answer as for an id that does not exist: a guesser learns nothing of ids.
    # A URL-safe secret may itself hold "_": split at the first two only.
    unknown = "msk_0123456789abcdef_" + wrong.split("_", 2)[2]
    with pytest.raises(KeyRefused) as unknown_refused:
        store.check(unknown)
    assert str(refused.value) == str(unknown_refused.value).replace(
        "0123456789abcdef", issued.record.id
    )
    soon = store.create("reader", expires_at=datetime.now(UTC) + timedelta(hours=1))
    store.check(soon.token, now=datetime.now(UTC))
    with pytest.raises(KeyRefused, match="expired"):
        store.check(soon.token, now=datetime.now(UTC) + timedelta(hours=2))
    revoked = store.revoke(issued.record.id)
    assert revoked.revoked_at is not None
    with pytest.raises(KeyRefused, match="revoked"):
        store.check(issued.token)
    assert store.revoke(issued.record.id).revoked_at == revoked.revoked_at  # first time kept
    with pytest.raises(InvalidInput, match="keys list"):
        store.revoke("0000000000000000")


def test_bad_roles_expiries_and_patterns_say_the_fix(home: Path) -> None:
    with pytest.raises(InvalidInput, match="reader, quant, operator, compliance, admin"):
        KeyStore(home).create("superuser")
    with pytest.raises(InvalidInput, match="90d"):
        parse_expiry("3 months")
    with pytest.raises(InvalidInput, match="90d"):
        parse_expiry("0d")
    assert parse_expiry("never") is None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_expiry("90d", now) == now + timedelta(days=90)
    assert parse_datasets(None) == ("*",)
    assert parse_datasets("normalized/*, analytics/vol_surface_daily") == (
        "normalized/*",
        "analytics/vol_surface_daily",
    )
    with pytest.raises(InvalidInput, match="globs"):
        parse_datasets("normalized/*;drop")


def test_the_homes_admin_key_is_made_once_and_again_after_revocation(state_home: Path) -> None:
    home = state_home
    path, made = ensure_admin_key(home)
    assert made and path == admin_key_path(home) and _mode(path) == 0o600
    token = admin_token(home)
    assert token is not None and KeyStore(home).check(token).role == "admin"
    assert ensure_admin_key(home) == (path, False) and admin_token(home) == token
    KeyStore(home).revoke(KeyStore(home).check(token).id)
    assert ensure_admin_key(home) == (path, True)
    assert admin_token(home) != token and KeyStore(home).check(admin_token(home) or "").role
