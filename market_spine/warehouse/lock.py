"""DuckDB allows one writing process per database file, and no reader while it writes: a
readers-writer file lock next to the warehouse makes a second dbt build wait for the first
(instead of failing on DuckDB's own lock) and makes readers wait out a build."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from market_spine.errors import LakeError

#: How long a build waits for another build (or readers) before giving up.
DEFAULT_TIMEOUT_S = 3600.0
_POLL_S = 0.1


class WarehouseBusy(LakeError):
    """The warehouse lock was not free within the timeout."""


@contextmanager
def warehouse_lock(
    lock_file: Path, *, shared: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Iterator[None]:
    """Hold the lock: exclusive for a writer (dbt), shared for read-only connections.

    flock locks belong to the open file and vanish with the process, so a crashed build never
    leaves the warehouse locked.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"the warehouse lock {lock_file} stayed busy for {timeout_s:.0f} s: "
                        "another dbt build or a reader holds it; retry when it finishes"
                    ) from None
                time.sleep(_POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
