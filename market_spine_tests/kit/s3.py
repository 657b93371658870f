"""An S3-compatible server for tests: moto's server in its own process on a free loopback port
(in-process and threaded it hangs), one fresh bucket per test, and the settings of a home whose
lake lives in that bucket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from market_spine.settings import Settings

ACCESS_KEY = "spine-test-key"
SECRET_KEY = "spine-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running moto server: its endpoint, and a boto3 client to look at what it holds."""

    endpoint: str

    def client(self) -> Any:
        """A boto3 S3 client of the server (tests inspect objects and their headers with it)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def bucket(self) -> str:
        """A new, empty bucket."""
        name = f"lake-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def lake_env(self, home: Path, bucket: str, **extra: str) -> dict[str, str]:
        """The environment of a test home whose lake is `s3://bucket/lake` on this server."""
        return {
            "MARKET_SPINE_HOME": str(home),
            "MARKET_SPINE_PROFILE": "dev",
            "MARKET_SPINE_LAKE_URI": f"s3://{bucket}/lake",
            "MARKET_SPINE_LAKE_ENDPOINT": self.endpoint,
            "MARKET_SPINE_LAKE_REGION": REGION,
            "MARKET_SPINE_LAKE_ACCESS_KEY_ID": ACCESS_KEY,
            "MARKET_SPINE_LAKE_SECRET_ACCESS_KEY": SECRET_KEY,
            **extra,
        }

    def settings(self, home: Path, bucket: str, **extra: str) -> Settings:
        """Settings of a test home with its lake in `bucket`."""
        return Settings.from_env(self.lake_env(home, bucket, **extra))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def s3_server(timeout_s: float = 30.0, checks_credentials: bool = False) -> Iterator[S3Server]:
    """Start `python -m moto.server` on a free loopback port and stop it on exit; with
    `checks_credentials`, it refuses every key it was not given (as AWS does an unknown one)."""
    port = _free_port()
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    if checks_credentials:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto.server exited with {process.returncode} on port {port}")
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto.server did not answer on {endpoint}") from None
                time.sleep(0.1)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RequestCounter:
    """A reverse proxy in front of an S3 server that counts the requests passing through it
    (what a store would bill), in a process of its own: delta-rs holds the GIL while it waits
    on the network, so a proxy in the caller's process would never answer it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.endpoint = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> RequestCounter:
        command = [sys.executable, "-m", "market_spine_tests.kit.s3_counter", self.upstream]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        self.endpoint = self._process.stdout.readline().strip()
        if not self.endpoint.startswith("http://"):
            raise RuntimeError(f"the counting proxy did not start: {self.endpoint!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)

    @property
    def requests(self) -> list[str]:
        """Each request forwarded so far, as `METHOD path?query`, in order."""
        return list(httpx.get(f"{self.endpoint}/__requests__", timeout=10).json())

    @property
    def agents(self) -> list[str]:
        """The User-Agent of each request in `requests`, in the same order."""
        return list(httpx.get(f"{self.endpoint}/__agents__", timeout=10).json())

    def total(self) -> int:
        """Requests forwarded so far."""
        return len(self.requests)
