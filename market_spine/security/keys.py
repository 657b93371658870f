"""API keys: random secrets shown once, kept only as Argon2id hashes in the home's key file
(`<home>/secrets/keys.db`, SQLite, readable by its owner only), or in the schema
`market_spine_keys` of the `state_database` every replica of the API shares.

A key reads `msk_<id>_<secret>`: the public id finds its one row, the secret is checked against
the row's hash. Argon2id (argon2-cffi) rather than `hashlib.scrypt`: it is the first choice of
the OWASP password-storage guidance, and its encoded hash carries its own salt and cost
parameters, so stronger parameters later need no schema change.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from market_spine.errors import InvalidInput
from market_spine.security.identity import ALL_DATASETS, Identity
from market_spine.security.roles import known_role
from market_spine.security.tenants import tenant_name
from market_spine.state_db import SQLITE, StateConnection
from market_spine.state_db.location import home_database

PREFIX = "msk"
#: Argon2id at the OWASP minimum (19 MiB, 2 passes, 1 lane): about 20 ms a check, paid once per
#: key and cache period, never per request.
HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_TOKEN = re.compile(rf"^{PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{32,128}})$")
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

_SCHEMA = """
create table if not exists api_keys (
    id text primary key,
    name text not null,
    role text not null,
    datasets text not null,
    hash text not null,
    created_at text not null,
    expires_at text,
    revoked_at text,
    tenant text,
    pii integer not null default 0
)
"""
#: Columns added since the first key files: a key file without them gets them (null tenant, no
#: pii), so keys issued before stay valid with the access they had.
_ADDED_COLUMNS = {"tenant": "text", "pii": "integer not null default 0"}


class KeyRefused(Exception):
    """A presented key is not valid; the message says why (malformed, unknown, revoked,
    expired) without repeating the secret."""


def secrets_dir(home: Path) -> Path:
    """The home's folder of secrets (mode 0700), created on first use."""
    folder = home / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner may read (0600 from creation, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)


def parse_expiry(raw: str | None, now: datetime | None = None) -> datetime | None:
    """`90d`, `12h`, `30m` or `2w` from `now` (UTC); None or `never` for no expiry."""
    if raw is None or raw.strip().lower() in ("", "never"):
        return None
    match = _DURATION.match(raw.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(f"expiry {raw!r} is not a duration: pass e.g. 90d, 12h, 30m or never")
    delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return (now or datetime.now(UTC)).replace(microsecond=0) + delta


def parse_datasets(raw: str | None) -> tuple[str, ...]:
    """Comma-separated glob patterns over dataset names (`normalized/*,analytics/vol_surface`);
    None or empty for every dataset."""
    if raw is None or not raw.strip():
        return ALL_DATASETS
    patterns = tuple(p.strip() for p in raw.split(",") if p.strip())
    bad = [p for p in patterns if not re.fullmatch(r"[A-Za-z0-9_/*?\[\]!.-]+", p)]
    if bad:
        raise InvalidInput(
            f"dataset pattern {bad[0]!r} holds characters no dataset name has: pass names or "
            "globs such as normalized/futures_bars_1m or normalized/*"
        )
    return patterns


@dataclass(frozen=True)
class KeyRecord:
    """One issued key as stored (never its secret): times are UTC."""

    id: str
    name: str
    role: str
    datasets: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    tenant: str | None = None
    pii: bool = False

    def state(self, now: datetime) -> str:
        """`active`, `revoked` or `expired` at `now`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def identity(self) -> Identity:
        """The identity requests made with this key act as."""
        return Identity(f"key:{self.id}", self.role, self.datasets, "key", self.tenant, self.pii)

    def as_json(self, now: datetime) -> dict[str, object]:
        """The record as JSON-ready values (ISO 8601 times with zone)."""
        iso = lambda t: None if t is None else t.isoformat()  # noqa: E731
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "datasets": list(self.datasets),
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "tenant": self.tenant,
            "pii": self.pii,
            "state": self.state(now),
        }


@dataclass(frozen=True)
class IssuedKey:
    """A key just created: its record and its token, which is shown this once."""

    record: KeyRecord
    token: str


def _time(raw: str | None) -> datetime | None:
    return None if raw is None else datetime.fromisoformat(raw)


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        datasets=tuple(json.loads(row["datasets"])),
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=_time(row["expires_at"]),
        revoked_at=_time(row["revoked_at"]),
        tenant=row["tenant"],
        pii=bool(row["pii"]),
    )


class KeyStore:
    """The key file of one home: create, list, revoke and check keys."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / "secrets" / "keys.db"
        self.database = home_database(home, "keys", self.path)

    def _has_keys(self) -> bool:
        """False when no key was ever issued here (no key file): reads need not make one."""
        return self.database.exists()

    @contextmanager
    def _db(self) -> Iterator[StateConnection]:
        if not self.database.shared and not self.path.exists():
            secrets_dir(self.home)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        with self.database.session(_SCHEMA, named=True) as con:
            if con.dialect == SQLITE:
                have = {r["name"] for r in con.execute("pragma table_info(api_keys)")}
                for column, kind in _ADDED_COLUMNS.items():
                    if column not in have:
                        con.execute(f"alter table api_keys add column {column} {kind}")
            with con.transaction():
                yield con

    def create(
        self,
        role: str,
        datasets: tuple[str, ...] = ALL_DATASETS,
        expires_at: datetime | None = None,
        name: str = "",
        tenant: str | None = None,
        pii: bool = False,
    ) -> IssuedKey:
        """Issue a key; its token is in the answer and nowhere else. `tenant` binds it to one
        tenant's rows (InvalidInput when blank: None is the key for every tenant); `pii` lets
        it read personal data in clear."""
        if tenant is not None:
            tenant = tenant_name(tenant)
        record = KeyRecord(
            id=secrets.token_hex(8),
            name=name,
            role=known_role(role),
            datasets=datasets,
            created_at=datetime.now(UTC).replace(microsecond=0),
            expires_at=expires_at,
            revoked_at=None,
            tenant=tenant,
            pii=pii,
        )
        secret = secrets.token_urlsafe(32)
        with self._db() as con:
            con.execute(
                "insert into api_keys (id, name, role, datasets, hash, created_at, expires_at, "
                "revoked_at, tenant, pii) values (?, ?, ?, ?, ?, ?, ?, null, ?, ?)",
                (
                    record.id,
                    record.name,
                    record.role,
                    json.dumps(list(datasets)),
                    HASHER.hash(secret),
                    record.created_at.isoformat(),
                    None if expires_at is None else expires_at.isoformat(),
                    tenant,
                    int(pii),
                ),
            )
        return IssuedKey(record, f"{PREFIX}_{record.id}_{secret}")

    def list(self) -> list[KeyRecord]:
        """Every key ever issued, oldest first (revoked and expired ones too)."""
        if not self._has_keys():
            return []
        with self._db() as con:
            rows = con.execute("select * from api_keys order by created_at, id").fetchall()
        return [_record(r) for r in rows]

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key by id (at once for new checks; see `KeyVerifier` for cached ones).
        An unknown id raises InvalidInput; revoking twice keeps the first time."""
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        with self._db() as con:
            con.execute(
                "update api_keys set revoked_at = coalesce(revoked_at, ?) where id = ?",
                (now, key_id),
            )
            row = con.execute("select * from api_keys where id = ?", (key_id,)).fetchone()
        if row is None:
            raise InvalidInput(
                f"no API key has id {key_id!r}: `market-spine keys list` shows the ids"
            )
        return _record(row)

    @staticmethod
    def claimed(token: str) -> str | None:
        """The actor a token claims to be (`key:<id>`) before it is checked; None if it is not
        shaped like a key."""
        match = _TOKEN.match(token)
        return None if match is None else f"key:{match.group(1)}"

    def check(self, token: str, now: datetime | None = None) -> KeyRecord:
        """The active key `token` is; KeyRefused saying why when it is none. Costs one row
        read and one Argon2id check."""
        match = _TOKEN.match(token)
        if match is None:
            raise KeyRefused("the API key is malformed: it should read msk_<id>_<secret>")
        key_id, secret = match.groups()
        row = None
        if self._has_keys():
            with self._db() as con:
                row = con.execute("select * from api_keys where id = ?", (key_id,)).fetchone()
        # One answer for an unknown id and a wrong secret: a refusal must not tell a guesser
        # which key ids exist.
        invalid = f"API key {key_id} is not valid for this home: ask an admin for a key"
        if row is None:
            raise KeyRefused(invalid)
        try:
            HASHER.verify(row["hash"], secret)
        except (VerificationError, InvalidHashError):
            raise KeyRefused(invalid) from None
        record = _record(row)
        state = record.state(now or datetime.now(UTC))
        if state != "active":
            raise KeyRefused(f"API key {key_id} is {state}: ask an admin for a new one")
        return record
