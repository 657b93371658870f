"""The home's own admin key: made on first start (`market-spine up`), kept in
`<home>/secrets/admin.key` (0600), and used by the command line for its calls to the home's API,
so a fresh home is protected and still runs with one command."""

from __future__ import annotations

from pathlib import Path

from market_spine.security.keys import KeyRefused, KeyStore, secrets_dir, write_private

ADMIN_KEY_NAME = "admin (made by market-spine up)"


def admin_key_path(home: Path) -> Path:
    """Where the home keeps its admin key."""
    return home / "secrets" / "admin.key"


def admin_token(home: Path) -> str | None:
    """The home's admin key, None when it has none (or the file cannot be read)."""
    try:
        token = admin_key_path(home).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


def ensure_admin_key(home: Path) -> tuple[Path, bool]:
    """The admin key file, made (with a new admin key) unless it holds a key that is still
    active; True when a key was made now."""
    store = KeyStore(home)
    token = admin_token(home)
    if token is not None:
        try:
            store.check(token)
            return admin_key_path(home), False
        except KeyRefused:
            pass  # revoked, expired or from another home: make a new one
    issued = store.create("admin", name=ADMIN_KEY_NAME)
    secrets_dir(home)
    write_private(admin_key_path(home), issued.token + "\n")
    return admin_key_path(home), True


def admin_headers(home: Path) -> dict[str, str]:
    """The Authorization header of the home's admin key ({} when there is none)."""
    token = admin_token(home)
    return {} if token is None else {"Authorization": f"Bearer {token}"}
