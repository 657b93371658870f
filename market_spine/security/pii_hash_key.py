"""The home's key for hashing personal data (HMAC-SHA-256): without it, a masked value cannot
be told from the hash of a guessed one (a known email), which a plain SHA-256 allows.

The `pii_hash_key` setting (`MARKET_SPINE_PII_HASH_KEY`, or its `_FILE` for a mounted secret)
gives it, so replicas serving one lake hash alike; otherwise 32 random bytes are made on first
use and kept in `<home>/secrets/pii_hash.key` (0600). One key per home: the same value hashes
the same within a home, so masked columns still join and count distinct.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from market_spine.errors import InvalidInput
from market_spine.security.keys import secrets_dir
from market_spine.settings import PII_KEY_MIN_CHARS as MIN_KEY_CHARS

#: The file under `<home>/secrets/` holding a home's made key (hex).
KEY_FILE = "pii_hash.key"

_cache: dict[Path, bytes] = {}


def key_path(home: Path) -> Path:
    """`<home>/secrets/pii_hash.key`."""
    return Path(home) / "secrets" / KEY_FILE


def configured_key(text: str) -> bytes:
    """A configured key's bytes (its UTF-8 text); InvalidInput when it is too short to resist
    guessing."""
    value = text.strip()
    if len(value) < MIN_KEY_CHARS:
        raise InvalidInput(
            f"pii_hash_key has {len(value)} characters; give at least {MIN_KEY_CHARS} random "
            "ones (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return value.encode()


def _made_key(home: Path) -> bytes:
    path = key_path(home)
    try:
        known = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        known = ""
    if known:
        return bytes.fromhex(known)
    secrets_dir(Path(home))
    made = secrets.token_hex(32)
    try:
        # Exclusive creation: two processes starting at once agree on the first one's key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="utf-8").strip())
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(made + "\n")
    return bytes.fromhex(made)


def pii_hash_key(home: Path) -> bytes:
    """The key personal data of `home` is hashed with: the home's `pii_hash_key` setting (its
    settings file or the environment) when set, else the home's own (made on first use). Kept
    for the process's life."""
    resolved = Path(home).resolve()
    found = _cache.get(resolved)
    if found is None:
        found = _cache[resolved] = _configured(resolved) or _made_key(resolved)
    return found


def _configured(home: Path) -> bytes | None:
    from market_spine.errors import SpineError
    from market_spine.settings import Settings

    try:
        settings = Settings.from_env({**os.environ, "MARKET_SPINE_HOME": str(home)})
    except SpineError:
        from market_spine.config.file import SettingSources

        # Another setting's fault leaves the home's own key in use; a key that is named but
        # refused (too short) must never be replaced by one made here without a word.
        if SettingSources.of(os.environ, Path(home)).get("MARKET_SPINE_PII_HASH_KEY", ""):
            raise
        return None
    if settings.pii_hash_key is None:
        return None
    return configured_key(settings.pii_hash_key.get_secret_value())
