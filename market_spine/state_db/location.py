"""Which database a home's stores use: `state_database` resolved to a libpq conninfo ("" for
SQLite files in the home). `instance` reads the Dagster instance's own PostgreSQL section (its
dagster.yaml, the `DAGSTER_PG_*` variables or their `_FILE`s, its TLS mode and root
certificate), so a deployment configures its database once."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from market_spine.errors import InvalidInput
from market_spine.settings import STATE_IN_INSTANCE, Settings
from market_spine.state_db.database import StateDatabase


def instance_conninfo(settings: Settings, env: Mapping[str, str]) -> str:
    """The conninfo of the PostgreSQL the home's Dagster instance uses (its dagster.yaml, else
    its profile's); InvalidInput when that instance is not on PostgreSQL or a variable it
    reads is unset."""
    import psycopg
    import sqlalchemy as sa
    import yaml
    from dagster_postgres.utils import pg_url_from_config

    from market_spine.config.file import fill_from_files
    from market_spine.config.profile_check import env_references, postgres_root_cert, resolved
    from market_spine.config.profiles import instance_file

    config = settings.dagster_home / "dagster.yaml"
    if not config.is_file():
        config = instance_file(settings.profile)
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"state_database=instance reads {config}, which fails: {exc}") from None
    storage = (data.get("storage") or {}).get("postgres") if isinstance(data, dict) else None
    if not isinstance(storage, dict):
        raise InvalidInput(
            f"state_database=instance, but the {settings.profile} profile's instance ({config}) "
            "is not on PostgreSQL: set state_database to '' (the home's files) or a "
            "postgresql:// URI, or use a profile whose instance is on PostgreSQL"
        )
    filled = dict(env)
    fill_from_files(env_references(data), filled)
    try:
        url = sa.engine.make_url(pg_url_from_config(resolved(storage, filled)))
    except KeyError as exc:
        raise InvalidInput(
            f"state_database=instance reads {exc.args[0]} (the instance's dagster.yaml), unset "
            "here: export it, or mount the secret that holds it"
        ) from None
    params = {k: v for k, v in url.query.items() if isinstance(v, str)}
    root_cert = postgres_root_cert(storage, filled)
    if root_cert:
        params.setdefault("sslrootcert", root_cert)
    return psycopg.conninfo.make_conninfo(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        **params,
    )


def conninfo_of(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(conninfo, where it came from) of the settings' stores; ("", "") for the home's files."""
    chosen = settings.state_database
    if not chosen:
        return "", ""
    if chosen == STATE_IN_INSTANCE:
        return instance_conninfo(settings, os.environ if env is None else env), (
            "state_database=instance"
        )
    return chosen, "state_database"


@lru_cache(maxsize=64)
def _database(store: str, file: Path, conninfo: str, source: str) -> StateDatabase:
    """One StateDatabase per place in a process, so its threads' connections are kept."""
    return StateDatabase(store, file, conninfo, source)


#: Stores whose SQLite file holds only what live processes add up: nothing to carry over.
TRANSIENT_STORES = frozenset({"counters"})

_copying = threading.local()


@contextmanager
def copying() -> Iterator[None]:
    """Let this thread open the shared stores beside the home's files (`state copy` itself)."""
    _copying.active = True
    try:
        yield
    finally:
        _copying.active = False


def database_for(settings: Settings, store: str, file: Path) -> StateDatabase:
    """The database of `store` under `settings`: `file` (SQLite) unless `state_database`
    names a PostgreSQL. InvalidInput when it does while `file` still holds the home's store:
    the history in it would be passed over without a word (keys no longer checked, a second
    audit chain begun), so it is copied first (`market-spine state copy`)."""
    conninfo, source = conninfo_of(settings)
    if (
        conninfo
        and store not in TRANSIENT_STORES
        and not getattr(_copying, "active", False)
        and file.is_file()
    ):
        raise InvalidInput(
            f"{file} holds this home's {store} store, but {source} puts the store in "
            "PostgreSQL: run `market-spine state copy` to carry it over (it moves the file "
            "aside), or unset state_database"
        )
    return _database(store, file, conninfo, source)


def home_database(home: Path, store: str, file: Path) -> StateDatabase:
    """The database of `store` for `home`, under this process's configuration: for stores
    opened by home (see `database_for`)."""
    return database_for(Settings.for_home(home), store, file)


#: libpq's variables a probe passes from the environment it checks, by connection parameter.
LIBPQ_VARIABLES = {
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "sslrootcert": "PGSSLROOTCERT",
}


def probe(
    settings: Settings, env: Mapping[str, str], timeout_s: float = 10
) -> tuple[bool | None, str]:
    """Whether the settings' stores can live where `state_database` says, in a line: their
    PostgreSQL answers the credentials and lets them create their schemas (nothing is made).
    None when the stores are the home's files."""
    import psycopg

    try:
        conninfo, source = conninfo_of(settings, env)
    except InvalidInput as exc:
        return False, str(exc)
    if not conninfo:
        return None, f"SQLite files in {settings.home}: every process of the platform shares it"
    db = StateDatabase("probe", settings.home, conninfo, source)
    # libpq reads these from the process's environment; the probe checks the one it was given.
    named = psycopg.conninfo.conninfo_to_dict(conninfo)
    given = {k: env[v] for k, v in LIBPQ_VARIABLES.items() if env.get(v) and k not in named}
    try:
        with psycopg.connect(conninfo, connect_timeout=max(1, round(timeout_s)), **given) as con:
            (may_create,) = con.execute(
                "SELECT has_database_privilege(current_user, current_database(), 'CREATE')"
            ).fetchone() or (False,)
    except psycopg.OperationalError as exc:
        return False, db.refusal(exc, "the state database")
    where = db.where().split(", schema")[0]
    if not may_create:
        return False, (
            f"{where} ({source}) accepts the credentials but its user may not create schemas: "
            "GRANT CREATE ON DATABASE to it (each store keeps its tables in a schema of its own)"
        )
    return True, f"{where} ({source}) accepts the credentials; the stores keep schemas there"
