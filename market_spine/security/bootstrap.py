"""The home's own admin key: made on first start (`market-spine up`), kept in
`<home>/secrets/admin.key` (0600), and used by the command line for its calls to the home's API,
so a fresh home is protected and still runs with one command; and the home's id, which the API
names on `/healthz` so the command line sends that key only to its own home's API."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from market_spine.security.keys import KeyRefused, KeyStore, secrets_dir, write_private

ADMIN_KEY_NAME = "admin (made by market-spine up)"
HOME_ID_FILE = "home.id"


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


def home_id(home: Path) -> str:
    """The home's id: 16 random hex digits made on first use and kept in
    `<home>/secrets/home.id` (0600). Public on `/healthz`, so it is no secret to whoever reaches
    the API; a listener that cannot read the home cannot know it before the API has answered
    once, and one that never reached the home's API never does."""
    path = home / "secrets" / HOME_ID_FILE
    try:
        known = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        known = ""
    if known:
        return known
    secrets_dir(home)
    made = secrets.token_hex(8)
    try:
        # Exclusive creation: two processes starting at once agree on the first one's id.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip() or made
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(made + "\n")
    return made


def served_home(home: Path) -> str:
    """Which home an API serves, as `/healthz` names it: the home's id and a digest of where
    it lies. A copy of a home keeps its id (`secrets/home.id` is copied with it) but lies
    elsewhere, so a command on the copy never takes the original's API for its own."""
    where = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return f"{home_id(home)}@{where}"
