"""A throwaway PostgreSQL cluster for the PostgreSQL source's tests and benchmark: initdb into a
temporary folder, pg_ctl on a free loopback port with a random password, removed afterwards.
The server refuses to run as root, so under root it runs as `nobody` via setpriv."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "spine"


def _bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")) or [
        Path(p) for p in [shutil.which(name)] if p
    ]
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} is not installed: apt-get install postgresql")
    return str(found[-1])


def _unprivileged(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", *command]


@contextmanager
def postgres_dsn() -> Iterator[str]:
    """A running cluster's connection string (superuser, database `postgres`)."""
    folder = Path(tempfile.mkdtemp(prefix="company-pg-"))
    password = secrets.token_hex(12)
    (folder / "pw").write_text(password + "\n")
    if os.geteuid() == 0:
        for path in (folder, folder / "pw"):
            shutil.chown(path, "nobody", "nogroup")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = str(folder / "data")
    pg_ctl = _bin("pg_ctl")
    initdb = [_bin("initdb"), "-D", data, "-U", USER, "--pwfile", str(folder / "pw")]
    started = False
    try:
        subprocess.run(
            _unprivileged([*initdb, "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {folder} -c fsync=off"
        subprocess.run(
            _unprivileged(
                [pg_ctl, "-D", data, "-o", options, "-l", str(folder / "log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        started = True
        yield f"postgresql://{USER}:{password}@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                _unprivileged([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"]),
                capture_output=True,
                timeout=120,
            )
        shutil.rmtree(folder, ignore_errors=True)
