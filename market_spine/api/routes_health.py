"""Liveness (`/healthz`) and readiness (`/readyz`): is the process up, and can it serve reads.

Readiness is about this replica's ability to serve: the home, the lake, the Dagster instance's
storage and (when set) the platform's state database answer. A failed load or warehouse build
does not stop a replica from serving what the lake holds, so it never makes the replica unready
(every replica would leave the Service together): it is reported as `degraded`, with its detail
for operators. The home's Dagster instance is asked (opened once, its answer kept a few seconds
by `LoadStatus`) because an orchestrator polls this endpoint every few seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from market_spine.api.access import optional_identity
from market_spine.config.profile_check import env_references
from market_spine.security.identity import Identity
from market_spine.security.roles import allows
from market_spine.settings import Settings

router = APIRouter(tags=["operations"])
log = logging.getLogger("market_spine.api")

#: A database that does not answer this fast is "not ready" for a probe that must stay cheap.
CONNECT_TIMEOUT_S = 0.25
#: libpq counts its connect timeout in whole seconds.
STATE_TIMEOUT_S = 2


@dataclass(frozen=True)
class Probe:
    """The outcome of one readiness check: whether it passed and what was found."""

    ok: bool
    detail: str


def _shown(path: Path, settings: Settings) -> str:
    """A path as the home-relative name an operator knows (`$MARKET_SPINE_HOME/lake`): no
    answer reveals where the server keeps its files."""
    try:
        return f"$MARKET_SPINE_HOME/{path.relative_to(settings.home)}"
    except ValueError:
        return path.name


def probe_lake(settings: Settings) -> Probe:
    """The lake root exists and can be listed (an S3 lake: its bucket answers a listing)."""
    if settings.lake_uri:
        return _probe_object_lake(settings)
    root = settings.lake_root
    shown = _shown(root, settings)
    if not root.is_dir():
        return Probe(False, f"lake folder {shown} does not exist: run `market-spine process` first")
    try:
        with os.scandir(root) as entries:
            layers = sum(1 for e in entries if e.is_dir())
    except OSError as exc:
        return Probe(False, f"lake folder {shown} is not readable: {exc.strerror}")
    return Probe(True, f"{shown} ({layers} layers)")


def _probe_object_lake(settings: Settings) -> Probe:
    from market_spine.lake.storage import normalize_root

    bucket = normalize_root(settings.lake_uri).removeprefix("s3://").split("/")[0]
    try:
        layers = settings.lake().layers()
    except Exception as exc:  # obstore raises its own types for refused or unreachable buckets
        return Probe(False, f"lake bucket {bucket} does not answer: {type(exc).__name__}")
    return Probe(True, f"s3 bucket {bucket} ({len(layers)} layers)")


def _value(raw: Any) -> str | None:
    """A dagster.yaml scalar, which may be `{env: NAME}`."""
    if isinstance(raw, dict) and "env" in raw:
        return os.environ.get(str(raw["env"]))
    return None if raw is None else str(raw)


def _probe_sqlite(db: Path, settings: Settings) -> Probe:
    shown = _shown(db, settings)
    if not db.is_file():
        return Probe(
            False, f"Dagster storage {shown} not found: start the instance with `market-spine up`"
        )
    try:
        # Read-only URI: a probe must never create or lock the database it checks.
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=CONNECT_TIMEOUT_S)
        try:
            con.execute("select count(*) from sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        return Probe(False, f"Dagster storage {shown} is not readable: {exc}")
    return Probe(True, f"sqlite {shown}")


def _probe_tcp(kind: str, config: dict[str, Any]) -> Probe:
    unset = sorted({name for name in env_references(config) if not os.environ.get(name)})
    if unset:
        return Probe(
            False,
            f"Dagster {kind} storage reads {', '.join(unset)} from the environment (dagster.yaml), "
            "unset in this process: give it those variables (the database's secret)",
        )
    url = _value(config.get(f"{kind}_url"))
    db = config.get(f"{kind}_db") or {}
    host = urlparse(url).hostname if url else _value(db.get("hostname"))
    port = (urlparse(url).port if url else _value(db.get("port"))) or {"postgres": 5432}.get(
        kind, 3306
    )
    if not host:
        return Probe(False, f"Dagster {kind} storage has no hostname in dagster.yaml")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        return Probe(False, f"Dagster {kind} storage at {host}:{port} is unreachable: {exc}")
    return Probe(True, f"{kind} {host}:{port} accepts connections")


def probe_dagster(settings: Settings) -> Probe:
    """The instance folder exists and its storage answers: the SQLite run database opens
    read-only, or a configured Postgres/MySQL server accepts a TCP connection."""
    home = settings.dagster_home
    if not home.is_dir():
        return Probe(
            False,
            f"Dagster instance folder {_shown(home, settings)} does not exist: run "
            "`market-spine up`",
        )
    config_file = home / "dagster.yaml"
    config: dict[str, Any] = {}
    if config_file.exists():
        try:
            config = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            return Probe(False, f"{_shown(config_file, settings)} is not readable: {exc}")
    storage = config.get("storage") or {}
    for kind in ("postgres", "mysql"):
        if kind in storage:
            return _probe_tcp(kind, storage[kind] or {})
    if "run_storage" in config and "storage" not in config:
        return Probe(True, "custom run storage in dagster.yaml (not probed)")
    base = _value((storage.get("sqlite") or {}).get("base_dir")) or str(home)
    return _probe_sqlite(Path(base) / "history" / "runs.db", settings)


def probe_state(settings: Settings) -> Probe | None:
    """The platform's stores answer where `state_database` puts them (None: the home's files,
    which the lake's probe of the home covers)."""
    if not settings.state_database:
        return None
    from market_spine.state_db.location import probe

    ok, detail = probe(settings, os.environ, timeout_s=STATE_TIMEOUT_S)
    return Probe(bool(ok), detail)


@router.get("/healthz", summary="Liveness")
async def healthz(request: Request) -> dict[str, str]:
    """200 while the process can answer at all; it runs on the event loop, so it stays fast
    however busy the worker threads are. `home` is the served home's id: the command line
    sends the home's admin key only to an API that names its own home."""
    return {"status": "ok", "home": request.app.state.home_id}


@router.get(
    "/readyz",
    summary="Readiness",
    responses={
        503: {
            "description": "The home, the lake, the Dagster instance's storage or the "
            "platform's state database is not usable."
        }
    },
)
def readyz(
    request: Request, identity: Annotated[Identity | None, Depends(optional_identity)]
) -> JSONResponse:
    """200 when this replica can serve: the lake is readable and the Dagster instance's storage
    answers; else 503 naming the part that failed and why. A dataset whose last load failed, or
    a failed newest warehouse build, leaves the replica ready: the status is then `degraded`
    and `degraded` names those checks. Without an operator's credential the answer holds the
    status alone: which part failed, and why, is for those who run the platform."""
    settings: Settings = request.app.state.settings
    checks = {"lake": probe_lake(settings), "dagster": probe_dagster(settings)}
    state = probe_state(settings)
    if state is not None:
        checks["state"] = state
    failed = [name for name, probe in checks.items() if not probe.ok]
    if checks["dagster"].ok:
        checks["loads"] = request.app.state.loads.probe()
        checks["warehouse"] = request.app.state.loads.probe_warehouse()
    degraded = [name for name in ("loads", "warehouse") if name in checks and not checks[name].ok]
    status = "unavailable" if failed else "degraded" if degraded else "ready"
    body = {
        "status": status,
        "failed": failed,
        "degraded": degraded,
        "checks": {name: asdict(probe) for name, probe in checks.items()},
    }
    _log_change(request, status, {n: checks[n].detail for n in (*failed, *degraded)})
    if identity is None or not allows(identity.role, "operator"):
        body = {"status": body["status"]}
    return JSONResponse(body, status_code=503 if failed else 200)


def _log_change(request: Request, status: str, reasons: dict[str, str]) -> None:
    """Say in the server log why this replica is not ready, once each time that changes: the
    orchestrator asks every few seconds, and an operator whose key cannot be checked (the key
    store down) reads why there."""
    seen = (status, tuple(sorted(reasons.items())))
    if getattr(request.app.state, "readiness_seen", None) == seen:
        return
    request.app.state.readiness_seen = seen
    if reasons:
        log.warning("readiness %s: %s", status, "; ".join(f"{n}: {d}" for n, d in reasons.items()))
    else:
        log.info("readiness %s", status)
