"""`market-spine config validate --profile NAME`: whether a deployment profile's folder is whole and
valid (each file against its schema, the settings against their rules) and whether what it names
can be reached (the Dagster instance's PostgreSQL with its schema migrated, the lake, the
providers). Every finding is one line saying what was found and, when wrong, how to fix it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from market_spine.config.file import (
    SettingSources,
    fill_from_files,
    read_file,
    read_profile,
    settings_path,
)
from market_spine.config.profiles import PROFILE_FILES, instance_file, profile_dir, workspace_file
from market_spine.errors import InvalidInput, problems_of
from market_spine.settings import Settings

#: Seconds the PostgreSQL probe waits for a connection.
CONNECT_TIMEOUT_S = 3
#: The code location every profile's workspace must name (re-execution looks runs up by it).
LOCATION_MODULE = "market_spine.definitions"
#: libpq's sslmodes that refuse a connection without TLS: the prod profile's instance uses one.
TLS_SSLMODES = ("require", "verify-ca", "verify-full")
#: libpq's sslmodes that check the server's certificate against a root certificate.
VERIFYING_SSLMODES = ("verify-ca", "verify-full")
#: The variable libpq reads its root certificate's path from (`sslrootcert` overrides it).
ROOT_CERT_VARIABLE = "PGSSLROOTCERT"


@dataclass(frozen=True)
class Finding:
    """One check of a profile: `ok` True (passed), False (an error: validate exits 1) or None
    (skipped, with the reason); `detail` says what was found and how to fix it."""

    part: str
    ok: bool | None
    detail: str


def env_references(node: Any) -> Iterator[str]:
    """The environment variables a dagster.yaml reads (`{env: NAME}` anywhere in it)."""
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            yield node["env"]
            return
        for value in node.values():
            yield from env_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from env_references(value)


def check_files(profile: str) -> list[Finding]:
    """The profile's folder holds dagster.yaml, workspace.yaml and settings.toml."""
    folder = profile_dir(profile)
    if not folder.is_dir():
        return [Finding("folder", False, f"{folder} does not exist: create it (copy the dev one)")]
    missing = [name for name in PROFILE_FILES if not (folder / name).is_file()]
    if missing:
        return [
            Finding(
                "folder",
                False,
                f"{folder} lacks {', '.join(missing)}: add them (the dev profile has each)",
            )
        ]
    return [Finding("folder", True, f"{folder} holds {', '.join(PROFILE_FILES)}")]


def load_instance_yaml(profile: str) -> dict[str, Any]:
    """The profile's dagster.yaml as a mapping; InvalidInput when it is not one."""
    path = instance_file(profile)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path} is not readable YAML ({exc}): correct it") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} is not a mapping of Dagster instance settings: correct it")
    return data


def check_instance(profile: str, env: Mapping[str, str]) -> list[Finding]:
    """dagster.yaml against Dagster's instance schema (and its storage's own schema); every
    `{env: NAME}` it reads is set; its coordinator and launcher classes import."""
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config_schema

    path = instance_file(profile)
    try:
        data = load_instance_yaml(profile)
    except InvalidInput as exc:
        return [Finding("dagster.yaml", False, str(exc))]
    found: list[Finding] = []
    result = validate_config(dagster_instance_config_schema(), data)
    if not result.success:
        errors = "; ".join(e.message for e in result.errors or [])
        found.append(Finding("dagster.yaml", False, f"{path} breaks Dagster's schema: {errors}"))
    storage = data.get("storage") or {}
    if "postgres" in storage:
        from dagster_postgres import DagsterPostgresStorage

        result = validate_config(DagsterPostgresStorage.config_type(), storage["postgres"])
        if not result.success:
            errors = "; ".join(e.message for e in result.errors or [])
            found.append(
                Finding("dagster.yaml", False, f"{path} storage.postgres is invalid: {errors}")
            )
    for part in ("run_coordinator", "run_launcher"):
        named = data.get(part) or {}
        module = named.get("module")
        if module and importlib.util.find_spec(module) is None:
            found.append(
                Finding(
                    "dagster.yaml", False, f"{path} {part} names {module}, which is not installed"
                )
            )
    tls = tls_problem(profile, data, env) or root_cert_missing(data, env)
    if tls:
        found.append(Finding("dagster.yaml", False, f"{path} {tls}"))
    missing = sorted({name for name in env_references(data) if not env.get(name)})
    if missing:
        found.append(
            Finding(
                "dagster.yaml",
                False,
                f"{path} reads {', '.join(missing)} from the environment, unset here: export "
                "them (or mount the secret that holds them) before starting the platform",
            )
        )
    if not found:
        kind = next(iter(storage), "sqlite (the embedded default)")
        found.append(Finding("dagster.yaml", True, f"{path} is a valid instance ({kind} storage)"))
    return found


def postgres_sslmode(storage: Mapping[str, Any]) -> str:
    """The libpq sslmode a `storage.postgres` section connects with ("" when it sets none):
    `postgres_db.params.sslmode`, or the `sslmode` of a `postgres_url`'s query."""
    url = storage.get("postgres_url")
    if isinstance(url, str):
        return dict(parse_qsl(urlsplit(url).query)).get("sslmode", "")
    params = (storage.get("postgres_db") or {}).get("params") or {}
    mode = params.get("sslmode", "") if isinstance(params, dict) else ""
    return mode if isinstance(mode, str) else ""


def postgres_root_cert(storage: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The root certificate (a CA's PEM file) a `storage.postgres` section checks the server
    against ("" when it names none): `postgres_db.params.sslrootcert`, a `postgres_url`'s
    `sslrootcert`, else PGSSLROOTCERT of `env`."""
    url = storage.get("postgres_url")
    if isinstance(url, str):
        named = dict(parse_qsl(urlsplit(url).query)).get("sslrootcert", "")
    else:
        params = (storage.get("postgres_db") or {}).get("params") or {}
        named = params.get("sslrootcert", "") if isinstance(params, dict) else ""
    return (named if isinstance(named, str) else "") or env.get(ROOT_CERT_VARIABLE, "")


def tls_problem(profile: str, data: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """Why the prod profile's instance (a dagster.yaml's mapping) could talk to PostgreSQL
    without TLS, or cannot check the server it asks to check, with the fix ("" when neither,
    and for the other profiles): the password and every run's events would cross the network in
    clear, or a verify-full connection would fail for want of the CA's file."""
    storage = (data.get("storage") or {}).get("postgres")
    if profile != "prod" or not isinstance(storage, dict):
        return ""
    mode = postgres_sslmode(storage)
    if mode in VERIFYING_SSLMODES and not postgres_root_cert(storage, env):
        return (
            f"storage.postgres connects with sslmode {mode!r}, which checks the server's "
            "certificate against a root certificate, but none is named: set "
            f"{ROOT_CERT_VARIABLE} to the PEM file of the CA that signed PostgreSQL's "
            "certificate (Kubernetes: the market-spine-postgres-ca Secret, mounted at "
            "/run/secrets/postgres-ca/ca.crt), or postgres_db.params.sslrootcert"
        )
    if mode in TLS_SSLMODES:
        return ""
    given = f"sslmode {mode!r}" if mode else "no sslmode"
    return (
        f"storage.postgres connects with {given}, which lets the connection go without TLS: "
        "under the prod profile set postgres_db.params.sslmode to verify-full (with the "
        f"server's CA in {ROOT_CERT_VARIABLE}) or require, and serve TLS from the server"
    )


def root_cert_missing(data: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """Why the root certificate the instance names cannot be read here, with the fix ("" when
    it can, or none is named)."""
    storage = (data.get("storage") or {}).get("postgres")
    if not isinstance(storage, dict):
        return ""
    named = postgres_root_cert(storage, env)
    if not named or postgres_sslmode(storage) not in VERIFYING_SSLMODES:
        return ""
    if Path(named).expanduser().is_file():
        return ""
    return (
        f"the PostgreSQL root certificate {named} is no readable file here: mount the CA's "
        f"PEM file there, or point {ROOT_CERT_VARIABLE} (or postgres_db.params.sslrootcert) "
        "at it"
    )


def check_workspace(profile: str) -> list[Finding]:
    """workspace.yaml names exactly one code location, market_spine.definitions, importable."""
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    path = workspace_file(profile)
    try:
        origins = location_origins_from_yaml_paths([str(path)])
    except Exception as exc:  # Dagster raises its config errors under several types.
        return [Finding("workspace.yaml", False, f"{path} is not a valid workspace: {exc}")]
    if len(origins) != 1:
        return [
            Finding(
                "workspace.yaml",
                False,
                f"{path} names {len(origins)} code locations: name exactly one, the python_module "
                f"{LOCATION_MODULE}",
            )
        ]
    [origin] = origins
    target = getattr(origin, "loadable_target_origin", None)
    module = getattr(target, "module_name", None)
    if module != LOCATION_MODULE:
        return [
            Finding(
                "workspace.yaml",
                False,
                f"{path} loads {module or origin.location_name}, not {LOCATION_MODULE}: runs "
                "would belong to another code location; name the python_module "
                f"{LOCATION_MODULE}",
            )
        ]
    return [Finding("workspace.yaml", True, f"{path} loads {module}")]


def profile_settings(profile: str, env: Mapping[str, str]) -> Settings:
    """The settings a home gets under `profile`: the environment over the home's settings
    file over the profile's settings, validated as every command validates them."""
    home = Settings.home_from_env(env)
    values, path = read_profile(profile)
    sources = SettingSources(
        {**env, "MARKET_SPINE_PROFILE": profile}, read_file(home), settings_path(home), values, path
    )
    return Settings.from_sources(home, sources)


def check_settings(profile: str, env: Mapping[str, str]) -> tuple[list[Finding], Settings | None]:
    """settings.toml holds only known settings with valid values, valid under the environment."""
    try:
        settings = profile_settings(profile, env)
    except InvalidInput as exc:
        # Every problem a line of its own, so one pass over the profile fixes them all.
        return [Finding("settings.toml", False, p) for p in problems_of(exc)], None
    detail = (
        f"valid: provider {settings.provider}, options_provider {settings.options_provider}, "
        f"lake {settings.lake_location}"
    )
    return [Finding("settings.toml", True, detail)], settings


def check_postgres(profile: str, env: Mapping[str, str]) -> Finding:
    """The instance's PostgreSQL accepts the configured credentials and its Dagster schema is
    at the installed dagster-postgres's head revision."""
    return check_postgres_storage(load_instance_yaml(profile), env)


def check_postgres_storage(
    data: Mapping[str, Any], env: Mapping[str, str], *, schema: bool = True
) -> Finding:
    """`check_postgres` on an instance configuration (a dagster.yaml's mapping); `schema=False`
    only connects (an instance about to open creates its schema itself)."""
    storage = (data.get("storage") or {}).get("postgres")
    if storage is None:
        return Finding("postgres", None, "not used (the instance's storage is not PostgreSQL)")
    import sqlalchemy as sa
    from dagster._core.storage.sql import check_alembic_revision
    from dagster_postgres.run_storage import run_storage
    from dagster_postgres.utils import pg_alembic_config, pg_url_from_config

    try:
        filled = resolved(storage, env)
    except KeyError as exc:
        return Finding("postgres", None, f"not probed: {exc.args[0]} is unset (see dagster.yaml)")
    root_cert = postgres_root_cert(storage, env)
    if root_cert and isinstance(filled.get("postgres_db"), dict):
        # libpq reads PGSSLROOTCERT from this process's environment; the probe checks the
        # environment it was given, so the file is named as a parameter.
        db = filled["postgres_db"]
        db["params"] = {"sslrootcert": root_cert, **(db.get("params") or {})}
    bad_port = _bad_port(storage, filled)
    if bad_port:
        return Finding("postgres", False, bad_port)
    url = pg_url_from_config(filled)
    engine = sa.create_engine(
        url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
    )
    where = f"{engine.url.host}:{engine.url.port or 5432}/{engine.url.database}"
    try:
        with engine.connect() as conn:
            if not schema:
                return Finding("postgres", True, f"{where} accepts the credentials")
            db_rev, head = check_alembic_revision(pg_alembic_config(run_storage.__file__), conn)
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if "certificate" in reason.lower() or "ssl" in reason.lower():
            # The server answered: its certificate, not its address, is what to fix.
            return Finding(
                "postgres",
                False,
                f"{where} answered but TLS failed ({reason}): point PGSSLROOTCERT at the CA that "
                "signed the server's certificate, and check that the certificate names "
                "DAGSTER_PG_HOST (sslmode=verify-full checks the name)",
            )
        return Finding(
            "postgres",
            False,
            f"cannot connect to {where} ({reason}): start the server, or correct DAGSTER_PG_HOST, "
            "DAGSTER_PG_PORT, DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD and DAGSTER_PG_DB",
        )
    finally:
        engine.dispose()
    if db_rev is None:
        return Finding(
            "postgres",
            False,
            f"{where} answers but holds no Dagster schema: create it with `market-spine up` or "
            "`dagster instance migrate` (DAGSTER_HOME set to the home's dagster folder)",
        )
    if db_rev != head:
        return Finding(
            "postgres",
            False,
            f"{where} holds the Dagster schema at revision {db_rev}, this dagster-postgres "
            f"expects {head}: run `dagster instance migrate` (DAGSTER_HOME set to the home's "
            "dagster folder) before starting the platform",
        )
    return Finding("postgres", True, f"{where} answers; the Dagster schema is migrated ({head})")


def instance_refusal(data: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """Why an instance configured by `data` (a dagster.yaml's mapping) cannot open here, in a
    line with the fix, or None: a variable it reads is unset, its PostgreSQL port is not a
    number, or its PostgreSQL refuses the connection."""
    missing = sorted({name for name in env_references(data) if not env.get(name)})
    if missing:
        return (
            f"the Dagster instance reads {', '.join(missing)} from the environment (its "
            "dagster.yaml), unset here: export them (or mount the secret that holds them), or "
            "use the dev profile (MARKET_SPINE_PROFILE=dev)"
        )
    if "postgres" not in (data.get("storage") or {}):
        return None
    found = check_postgres_storage(data, env, schema=False)
    return None if found.ok is not False else f"the Dagster instance's PostgreSQL: {found.detail}"


def _bad_port(storage: dict[str, Any], resolved: dict[str, Any]) -> str:
    """Why the instance's PostgreSQL port is not one ("" when it is)."""
    raw = (resolved.get("postgres_db") or {}).get("port")
    if raw is None or (str(raw).isascii() and str(raw).isdigit() and 0 < int(raw) < 65536):
        return ""
    given = (storage.get("postgres_db") or {}).get("port")
    name = given["env"] if isinstance(given, dict) else "port in dagster.yaml"
    return f"{name}={raw!r} is not a port number (1..65535): set it to e.g. 5432"


def resolved(node: Any, env: Mapping[str, str]) -> Any:
    """`node` with each `{env: NAME}` replaced by the variable's value (KeyError if unset)."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            value = env.get(node["env"])
            if not value:
                raise KeyError(node["env"])
            return value
        return {k: resolved(v, env) for k, v in node.items()}
    return node


def check_home(settings: Settings, mounts: Path | None = None) -> Finding:
    """Under the prod profile the home is on one machine's disk, never a network filesystem:
    the SQLite stores and the lock it holds work on one machine only."""
    from market_spine.config.home_volume import MOUNTS, shared_home_problem

    if settings.profile != "prod":
        return Finding("home", None, f"not checked under the {settings.profile} profile")
    problem = shared_home_problem(settings.home, mounts or MOUNTS)
    if problem:
        return Finding("home", False, problem)
    return Finding("home", True, f"{settings.home} is on a filesystem of this machine")


def check_state(settings: Settings, env: Mapping[str, str]) -> Finding:
    """The platform's stores can live where `state_database` says (`state_db.location.probe`)."""
    from market_spine.state_db.location import probe

    return Finding("state", *probe(settings, env))


def check_lake(settings: Settings) -> Finding:
    """The lake root exists and is writable, or its nearest existing parent is (then the first
    command creates it); a lake on object storage lists, and takes a write and a delete."""
    if settings.lake_uri:
        from market_spine.config.lake_probe import probe_object_lake

        return Finding("lake", *probe_object_lake(settings))
    root = Path(settings.lake_root)
    existing = next((p for p in (root, *root.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return Finding("lake", False, f"{root}: no parent folder exists; point the home elsewhere")
    if not os.access(existing, os.W_OK | os.X_OK):
        return Finding(
            "lake",
            False,
            f"{existing} is not writable by this user: the lake {root} cannot be written; give "
            "the platform's user the folder, or point MARKET_SPINE_HOME elsewhere",
        )
    state = "exists" if existing == root else f"will be created under {existing}"
    return Finding("lake", True, f"{root} {state} and is writable")


def validate_profile(
    profile: str, env: Mapping[str, str], *, offline: bool = False
) -> list[Finding]:
    """Every finding on `profile` under `env`: its files, then (unless `offline`) what they
    name reached. Connectivity is probed only once the files are valid."""
    from market_spine.config.connectivity import probe_providers

    found = check_files(profile)
    if found[0].ok is False:
        return found
    env = dict(env)
    try:
        data = load_instance_yaml(profile)
    except InvalidInput:
        data = {}  # check_instance says why
    try:
        # The instance reads its variables from files mounted as secrets (`NAME_FILE`) too.
        fill_from_files(env_references(data), env)
    except InvalidInput as exc:
        found.append(Finding("dagster.yaml", False, str(exc)))
    found += check_instance(profile, env)
    found += check_workspace(profile)
    settings_found, settings = check_settings(profile, env)
    found += settings_found
    if settings is not None:
        found.append(check_home(settings))
    if offline:
        return [*found, Finding("connectivity", None, "not probed (--offline)")]
    if settings is None:
        return [*found, Finding("connectivity", None, "not probed: correct the settings first")]
    found.append(check_postgres(profile, env))
    found.append(check_state(settings, env))
    found.append(check_lake(settings))
    found += [Finding(p.name, p.ok, p.detail) for p in probe_providers(settings)]
    return found
