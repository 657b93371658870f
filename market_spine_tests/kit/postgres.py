"""A real, throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary folder,
`pg_ctl` on a random loopback port with password authentication and TLS (a certificate from a
throwaway CA, as the prod profile connects with `sslmode=verify-full`), removed when done.

PostgreSQL refuses to run as root, so under root the server runs as `nobody` (its folder is
handed to that user). The binaries come from the machine's PostgreSQL (`make test` installs
Debian's `postgresql` when they are missing).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Where Debian installs each PostgreSQL version's server binaries.
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
#: The unprivileged user the server runs as when the tests run as root.
SERVER_USER = "nobody"
SUPERUSER = "spine"


def binaries() -> Path:
    """The folder holding initdb and pg_ctl: the newest Debian version's, else the PATH's.
    A missing PostgreSQL raises FileNotFoundError saying how to install it."""
    versions = sorted(
        DEBIAN_BINARIES.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True
    )
    if versions:
        return versions[0].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise FileNotFoundError(
        "PostgreSQL's initdb is not installed: run `make system-packages` (installs Debian's "
        "postgresql), or put a PostgreSQL bin folder on PATH"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster on loopback: where it listens and its superuser's credentials."""

    port: int
    password: str
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    #: The PEM certificate of the CA that signed the server's certificate (for verify-full).
    ca_file: Path | None = None

    def env(self, database: str) -> dict[str, str]:
        """The DAGSTER_PG_* variables the test and prod profiles' dagster.yaml read, and the
        CA's file as libpq's root certificate (PGSSLROOTCERT: the prod profile verifies)."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
            **({"PGSSLROOTCERT": str(self.ca_file)} if self.ca_file else {}),
        }

    def dsn(self, database: str = "postgres") -> str:
        """The libpq connection URI of `database` as the superuser."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> Any:
        """A psycopg2 connection to `database` as the superuser (the caller closes it)."""
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=database
        )

    def count(self, database: str, sql: str) -> int:
        """The single number `sql` (a count) answers in `database`."""
        con = self.connect(database)
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return int(cur.fetchone()[0])
        finally:
            con.close()

    def create_database(self, name: str) -> str:
        """A new, empty database `name` (a test's own), returned by name."""
        con = self.connect()
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()
        return name


def _as_server(command: list[str]) -> list[str]:
    """`command` run as the unprivileged server user when this process is root."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid", SERVER_USER, "--regid", "nogroup", "--clear-groups", *command]


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """The server's certificate and key (for 127.0.0.1 and localhost) and its CA's certificate,
    written into `folder`; the key private to the server's user, as PostgreSQL demands."""
    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = folder / "server.crt", folder / "server.key", folder / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert_file))
    issued.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    os.chmod(key_file, 0o600)
    if os.geteuid() == 0:
        for path in (cert_file, key_file):
            shutil.chown(path, SERVER_USER, "nogroup")
    return cert_file, key_file, ca_file


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a fresh cluster and stop and remove it afterwards (whatever happened)."""
    bin_dir = binaries()
    folder = Path(tempfile.mkdtemp(prefix="spine-pg-"))
    data = folder / "data"
    password = secrets.token_urlsafe(16)
    pwfile = folder / "pw"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(folder, SERVER_USER, "nogroup")
        shutil.chown(pwfile, SERVER_USER, "nogroup")
    cert_file, key_file, ca_file = _tls_files(folder)
    server = PostgresServer(port=_free_port(), password=password, ca_file=ca_file)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile", str(pwfile)]
    initdb += ["--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"]
    pg_ctl = str(bin_dir / "pg_ctl")
    options = f"-p {server.port} -c listen_addresses=127.0.0.1 -k {folder}"
    options += f" -c ssl=on -c ssl_cert_file={cert_file} -c ssl_key_file={key_file}"
    started = False
    try:
        subprocess.run(_as_server(initdb), check=True, capture_output=True, timeout=120)
        pwfile.unlink()
        start = [pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "server.log")]
        subprocess.run(_as_server([*start, "-w", "start"]), check=True, timeout=120)
        started = True
        yield server
    finally:
        if started:
            stop = [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]
            subprocess.run(_as_server(stop), capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
