"""Running dbt against one home's warehouse: the home reaches profiles.yml through
MARKET_SPINE_HOME, and every invocation holds the warehouse's writer lock."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliInvocation, DbtCliResource

from market_spine.warehouse.lock import DEFAULT_TIMEOUT_S, warehouse_lock
from market_spine.warehouse.paths import DBT_PROJECT_DIR, dbt_target_path, lock_path, warehouse_path
from market_spine.warehouse.project import dbt_resource, discard_foreign_partial_parse
from market_spine.warehouse.reading import read_only

_ENV_LOCK = threading.Lock()  # os.environ is process-wide: one invocation sets it at a time


class WarehouseResource(dg.ConfigurableResource):
    """The home whose `warehouse/spine.duckdb` dbt builds; how long a build waits for the lock."""

    home: str
    lock_timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def path(self) -> Path:
        """The DuckDB file."""
        return warehouse_path(Path(self.home))

    @property
    def lock_file(self) -> Path:
        """The readers-writer lock file beside it."""
        return lock_path(Path(self.home))

    @property
    def target_path(self) -> Path:
        """dbt's artifacts and logs for this home (`paths.dbt_target_path`)."""
        return dbt_target_path(Path(self.home))

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the exclusive lock: the only way this code base writes the warehouse."""
        with warehouse_lock(self.lock_file, timeout_s=self.lock_timeout_s):
            yield

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, opened under the shared lock so it never meets a build."""
        with read_only(Path(self.home), self.lock_timeout_s) as conn:
            yield conn

    def invoke(
        self, dbt: DbtCliResource, args: Sequence[str], context: Any = None, **kwargs: Any
    ) -> DbtCliInvocation:
        """Start `dbt <args>` for this home; the caller must hold `writing()` until it ends."""
        with _ENV_LOCK:
            previous = os.environ.get("MARKET_SPINE_HOME")
            os.environ["MARKET_SPINE_HOME"] = str(Path(self.home).resolve())
            try:
                # dbt starts here (Popen copies os.environ), so the variable can be restored.
                kwargs.setdefault("target_path", self.target_path)
                # dagster-dbt seeds a new target with the project's partial parse: both must
                # have been made for this checkout's project folder.
                discard_foreign_partial_parse(DBT_PROJECT_DIR / "target")
                discard_foreign_partial_parse(kwargs["target_path"])
                return dbt.cli(list(args), context=context, **kwargs)
            finally:
                if previous is None:
                    os.environ.pop("MARKET_SPINE_HOME", None)
                else:
                    os.environ["MARKET_SPINE_HOME"] = previous

    def run(self, args: Sequence[str], dbt: DbtCliResource | None = None) -> DbtCliInvocation:
        """Run dbt outside Dagster (tests, benchmarks) to the end, under the writer lock."""
        with self.writing():
            invocation = self.invoke(dbt or dbt_resource(), args, raise_on_error=False)
            invocation.wait()
        return invocation
